//! Recommending actions: classify, then run the playbook for the touchpoint.

use super::{App, AppError, Classified, ClassifyOptions};
use crate::domain::history::CustomerRef;
use crate::domain::playbook::{recommend, ActionRequest, RecommendedAction, Touchpoint};
use crate::domain::rules::Locale;

/// What the caller tells about the contact.
#[derive(Debug, Clone, Copy)]
pub struct Contact {
    pub touchpoint: Touchpoint,
    pub locale: Locale,
    /// `None` means all.
    pub max_actions: Option<usize>,
    pub cart_value: Option<i64>,
}

impl App {
    /// The classification of a customer and the ranked actions it calls for at a touchpoint.
    pub async fn recommend(
        &self,
        reference: &CustomerRef,
        options: &ClassifyOptions,
        contact: &Contact,
    ) -> Result<(Classified, Vec<RecommendedAction>), AppError> {
        let classified = self.classify(reference, options).await?;
        let actions = recommend(
            &classified.rules.rules,
            &ActionRequest {
                classification: &classified.classification,
                birthday: classified.birthday,
                touchpoint: contact.touchpoint,
                locale: contact.locale,
                max_actions: contact.max_actions,
                cart_value: contact.cart_value,
            },
        );
        Ok((classified, actions))
    }
}
