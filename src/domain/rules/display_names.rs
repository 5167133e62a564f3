//! Display names of segments, as the rule set configures them: dimension key -> segment code ->
//! text in every locale.
//!
//! A full classification shows the name of each of its 15 segments, so the names are also kept
//! in a dense table, by dimension and by the code's place among the dimension's segments: a
//! lookup compares a few short codes instead of walking two ordered maps of strings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Locale, LocalizedText};
use crate::domain::dimensions::Dimension;

/// The configured names by dimension and code.
pub type DisplayNameMap = BTreeMap<Dimension, BTreeMap<String, LocalizedText>>;

/// The display names of a rule set; serialized as the map it was read from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "DisplayNameMap", into = "DisplayNameMap")]
pub struct DisplayNames {
    map: DisplayNameMap,
    /// `dense[dimension][i]` is the name of `dimension.segment_codes()[i]`, if configured.
    dense: Vec<Vec<Option<LocalizedText>>>,
}

impl DisplayNames {
    /// Every configured name, including any for codes the dimension does not have (which
    /// validation reports).
    pub fn as_map(&self) -> &DisplayNameMap {
        &self.map
    }

    /// The configured name of `code` in `dimension`, in `locale`.
    pub fn get(&self, dimension: Dimension, code: &str, locale: Locale) -> Option<&str> {
        let codes = dimension.segment_codes();
        // The rules decide codes from the same literals as `segment_codes` lists, so the
        // address usually matches; a pin or another literal is found by its text.
        let place = codes
            .iter()
            .position(|known| {
                std::ptr::eq(known.as_ptr(), code.as_ptr()) && known.len() == code.len()
            })
            .or_else(|| codes.iter().position(|known| *known == code))?;
        let text = self.dense.get(dimension as usize)?.get(place)?.as_ref()?;
        Some(text.get(locale))
    }
}

impl From<DisplayNameMap> for DisplayNames {
    fn from(map: DisplayNameMap) -> Self {
        let dense = Dimension::ALL
            .iter()
            .map(|dimension| {
                let names = map.get(dimension);
                dimension
                    .segment_codes()
                    .iter()
                    .map(|code| names.and_then(|names| names.get(*code)).cloned())
                    .collect()
            })
            .collect();
        Self { map, dense }
    }
}

impl From<DisplayNames> for DisplayNameMap {
    fn from(names: DisplayNames) -> Self {
        names.map
    }
}

/// Equal when the configured names are: the dense table follows from them.
impl PartialEq for DisplayNames {
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(en: &str, zh_cn: &str) -> LocalizedText {
        LocalizedText {
            en: en.to_owned(),
            zh_cn: zh_cn.to_owned(),
        }
    }

    fn names() -> DisplayNames {
        let mut map = DisplayNameMap::new();
        map.entry(Dimension::Rfm)
            .or_default()
            .insert("NONE".to_owned(), text("Never bought", "从未购买"));
        map.entry(Dimension::Lifecycle)
            .or_default()
            .insert("LOYAL".to_owned(), text("Loyal", "忠诚"));
        map.entry(Dimension::Lifecycle)
            .or_default()
            .insert("NOT_A_STAGE".to_owned(), text("Typo", "错字"));
        DisplayNames::from(map)
    }

    #[test]
    fn names_are_found_by_dimension_code_and_locale() {
        let names = names();
        assert_eq!(
            names.get(Dimension::Rfm, "NONE", Locale::En),
            Some("Never bought")
        );
        assert_eq!(
            names.get(Dimension::Rfm, "NONE", Locale::ZhCn),
            Some("从未购买")
        );
        // A code built at run time has another address than the literal.
        let loyal = String::from("LOY") + "AL";
        assert_eq!(
            names.get(Dimension::Lifecycle, &loyal, Locale::En),
            Some("Loyal")
        );
    }

    #[test]
    fn unnamed_and_unknown_codes_have_no_name() {
        let names = names();
        assert_eq!(names.get(Dimension::Lifecycle, "NEW", Locale::En), None);
        assert_eq!(names.get(Dimension::ValueTier, "NONE", Locale::En), None);
        assert_eq!(
            names.get(Dimension::Lifecycle, "NOT_A_STAGE", Locale::En),
            None,
            "a name for a code the dimension lacks is only reported by validation"
        );
        assert_eq!(names.get(Dimension::Rfm, "", Locale::En), None);
    }

    #[test]
    fn the_map_round_trips_through_serde() {
        let names = names();
        let json = serde_json::to_string(&names).expect("serializable");
        let back: DisplayNames = serde_json::from_str(&json).expect("readable");
        assert_eq!(back, names);
        assert_eq!(back.as_map(), names.as_map());
        assert_eq!(json, serde_json::to_string(names.as_map()).expect("map"));
    }
}
