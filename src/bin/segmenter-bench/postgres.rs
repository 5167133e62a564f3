//! The PostgreSQL side: the population is loaded once into a template database (marked by a
//! database comment naming the population, so a half-loaded one is never reused), and each
//! run serves a fresh copy of it, made by `CREATE DATABASE ... TEMPLATE` in seconds.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use sqlx::{Connection, Executor, PgConnection, Row};

use crate::population::Population;
use crate::server::Segmenter;

/// The database each run serves: dropped and re-created from the template every run.
const RUN_DATABASE: &str = "segmenter_bench";

pub struct Postgres {
    admin_url: String,
}

impl Postgres {
    /// Checks that `admin_url` answers (within a few seconds) and may create databases.
    pub async fn connect(admin_url: &str) -> Result<Postgres> {
        let postgres = Postgres {
            admin_url: admin_url.to_owned(),
        };
        let mut connection = postgres.admin().await?;
        let can_create: bool = sqlx::query_scalar(
            "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut connection)
        .await
        .context("checking the role's privileges")?;
        if !can_create {
            return Err(anyhow!("the role of {admin_url} may not create databases"));
        }
        Ok(postgres)
    }

    async fn admin(&self) -> Result<PgConnection> {
        tokio::time::timeout(
            Duration::from_secs(5),
            PgConnection::connect(&self.admin_url),
        )
        .await
        .map_err(|_| anyhow!("{} did not answer within 5 s", self.admin_url))?
        .with_context(|| format!("cannot connect to {}", self.admin_url))
    }

    /// Loads `population` into its template database unless a complete one is there;
    /// returns the load time when it loaded.
    pub async fn ensure_template(
        &self,
        segmenter: &Segmenter,
        population: &Population,
        rebuild: bool,
    ) -> Result<Option<Duration>> {
        let template = template_name(population);
        let marker = format!(
            "segmenter-bench population customers={} seed={} as_of={}",
            population.customers, population.seed, population.as_of
        );
        let mut admin = self.admin().await?;
        let existing: Option<Option<String>> = sqlx::query(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
        )
        .bind(&template)
        .fetch_optional(&mut admin)
        .await?
        .map(|row| row.get(0));
        if !rebuild && existing.flatten().as_deref() == Some(marker.as_str()) {
            return Ok(None);
        }
        recreate(&mut admin, &template, None).await?;
        let url = with_database(&self.admin_url, &template)?;
        eprintln!(
            "loading {} customers into PostgreSQL database {template}",
            population.customers
        );
        // The same generator, seed and as_of give the same data; its CSV is not needed again.
        let scratch = std::env::temp_dir().join(format!("{template}-orders.csv"));
        let started = Instant::now();
        segmenter.run_visible(&url, &population.demo_args(&scratch))?;
        let elapsed = started.elapsed();
        let _ = std::fs::remove_file(&scratch);
        admin
            .execute(format!("COMMENT ON DATABASE \"{template}\" IS '{marker}'").as_str())
            .await?;
        Ok(Some(elapsed))
    }

    /// A fresh copy of the population's template to serve; returns its URL.
    pub async fn fresh_copy(&self, population: &Population) -> Result<String> {
        let mut admin = self.admin().await?;
        recreate(&mut admin, RUN_DATABASE, Some(&template_name(population))).await?;
        with_database(&self.admin_url, RUN_DATABASE)
    }

    /// Drops the served copy; the template stays for the next run.
    pub async fn drop_copy(&self) -> Result<()> {
        let mut admin = self.admin().await?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS \"{RUN_DATABASE}\" WITH (FORCE)").as_str())
            .await?;
        Ok(())
    }
}

fn template_name(population: &Population) -> String {
    format!(
        "segmenter_bench_population_{}_{}",
        population.customers, population.seed
    )
}

/// Drops `name` (ending its connections) and creates it anew, empty or from `template`.
async fn recreate(admin: &mut PgConnection, name: &str, template: Option<&str>) -> Result<()> {
    admin
        .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
        .await
        .with_context(|| format!("dropping database {name}"))?;
    let create = match template {
        Some(template) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
        None => format!("CREATE DATABASE \"{name}\""),
    };
    admin
        .execute(create.as_str())
        .await
        .with_context(|| format!("creating database {name}"))?;
    Ok(())
}

/// `url` with its database name replaced by `database` (query parameters kept).
fn with_database(url: &str, database: &str) -> Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base
        .find("://")
        .map(|i| i + 3)
        .ok_or_else(|| anyhow!("{url:?} is not a postgres:// URL"))?;
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{database}", &base[..path]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced_and_parameters_kept() {
        let cases = [
            ("postgres://u@h:5432/postgres", "postgres://u@h:5432/x"),
            ("postgres://u@h:5432", "postgres://u@h:5432/x"),
            (
                "postgresql://u:p@h/db?sslmode=disable",
                "postgresql://u:p@h/x?sslmode=disable",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(with_database(url, "x").ok().as_deref(), Some(expected));
        }
    }
}
