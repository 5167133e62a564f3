//! Boundary tests of every dimension rule, against hand-built histories at a fixed `as_of`.

mod behaviour;
mod explain;
mod feedback;
mod personas;
mod predictive;
mod value;
mod whole;
