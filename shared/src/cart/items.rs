//! What a cart may hold: types that parse, so an invalid line never reaches the store.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Most lines in one cart.
pub const MAX_LINES: usize = 100;
/// Longest sku, in characters.
pub const MAX_SKU_CHARS: usize = 64;
/// Largest quantity of one line.
pub const MAX_QUANTITY: u16 = 999;

/// A stock-keeping unit: 1 to 64 characters of `A-Z a-z 0-9 - _`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Sku(String);

impl Sku {
    /// The sku, or why `raw` is not one.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid = !raw.is_empty()
            && raw.len() <= MAX_SKU_CHARS
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(raw.to_string()))
        } else {
            Err(format!(
                "must be 1 to {MAX_SKU_CHARS} characters of A-Z, a-z, 0-9, '-' and '_'"
            ))
        }
    }

    /// The sku as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many of one sku: 1 to 999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Quantity(u16);

impl Quantity {
    /// The quantity, or why `raw` is not one.
    pub fn parse(raw: u64) -> Result<Self, String> {
        match u16::try_from(raw) {
            Ok(n) if (1..=MAX_QUANTITY).contains(&n) => Ok(Self(n)),
            _ => Err(format!("must be a whole number from 1 to {MAX_QUANTITY}")),
        }
    }

    /// The quantity as a number.
    pub fn get(self) -> u16 {
        self.0
    }
}

/// One line of a cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CartLine {
    /// What.
    pub sku: Sku,
    /// How many.
    pub quantity: Quantity,
}

/// A line as a client sends it, before it is checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLine {
    sku: String,
    quantity: u64,
}

impl RawLine {
    /// A line as sent.
    pub fn new(sku: impl Into<String>, quantity: u64) -> Self {
        Self {
            sku: sku.into(),
            quantity,
        }
    }
}

/// Why a cart's lines were refused: the field, and what it must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {reason}")]
pub struct InvalidItems {
    /// Where, e.g. `items[3].quantity`.
    pub field: String,
    /// What it must be (never the value sent).
    pub reason: String,
}

/// The lines of a cart: at most 100, each valid, no sku twice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CartItems(Vec<CartLine>);

impl CartItems {
    /// Checks every line, in order; the first problem names its field.
    pub fn parse(raw: Vec<RawLine>) -> Result<Self, InvalidItems> {
        if raw.len() > MAX_LINES {
            return Err(InvalidItems {
                field: "items".into(),
                reason: format!("must have at most {MAX_LINES} lines"),
            });
        }
        let mut first_seen: HashMap<String, usize> = HashMap::new();
        let mut lines = Vec::with_capacity(raw.len());
        for (index, line) in raw.into_iter().enumerate() {
            let field = |name: &str| format!("items[{index}].{name}");
            let sku = Sku::parse(&line.sku).map_err(|reason| InvalidItems {
                field: field("sku"),
                reason,
            })?;
            let quantity = Quantity::parse(line.quantity).map_err(|reason| InvalidItems {
                field: field("quantity"),
                reason,
            })?;
            if let Some(first) = first_seen.insert(sku.as_str().to_string(), index) {
                return Err(InvalidItems {
                    field: field("sku"),
                    reason: format!("repeats items[{first}].sku; put the total in one line"),
                });
            }
            lines.push(CartLine { sku, quantity });
        }
        Ok(Self(lines))
    }

    /// The lines, in the order the client gave them.
    pub fn lines(&self) -> &[CartLine] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(lines: &[(&str, u64)]) -> Result<CartItems, InvalidItems> {
        CartItems::parse(
            lines
                .iter()
                .map(|(sku, quantity)| RawLine::new(*sku, *quantity))
                .collect(),
        )
    }

    #[test]
    fn skus_of_the_allowed_alphabet_and_length_parse() {
        for sku in ["A", "abc-123_XYZ", &"x".repeat(MAX_SKU_CHARS)] {
            assert!(Sku::parse(sku).is_ok(), "{sku}");
        }
    }

    #[test]
    fn an_empty_sku_is_refused() {
        assert!(Sku::parse("").is_err());
    }

    #[test]
    fn a_sku_over_64_characters_is_refused() {
        assert!(Sku::parse(&"x".repeat(MAX_SKU_CHARS + 1)).is_err());
    }

    #[test]
    fn a_sku_with_other_characters_is_refused() {
        for sku in ["a b", "a/b", "a.b", "ä", "a\u{0}", "<a>", "a%2F"] {
            assert!(Sku::parse(sku).is_err(), "{sku:?}");
        }
    }

    #[test]
    fn quantities_from_1_to_999_parse_and_nothing_else() {
        assert!(Quantity::parse(1).is_ok());
        assert!(Quantity::parse(999).is_ok());
        for bad in [0, 1000, 65_536 + 1, u64::MAX] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_first_bad_line_is_named() {
        let error = items(&[("ok", 1), ("bad sku", 1)]).unwrap_err();
        assert_eq!(error.field, "items[1].sku");
        let error = items(&[("ok", 1), ("fine", 0)]).unwrap_err();
        assert_eq!(error.field, "items[1].quantity");
    }

    #[test]
    fn a_repeated_sku_is_refused_naming_both_lines() {
        let error = items(&[("a", 1), ("b", 1), ("a", 2)]).unwrap_err();
        assert_eq!(error.field, "items[2].sku");
        assert!(error.reason.contains("items[0]"));
    }

    #[test]
    fn at_most_100_lines() {
        let skus: Vec<String> = (0..=MAX_LINES).map(|i| format!("sku-{i}")).collect();
        let lines = |n: usize| {
            skus[..n]
                .iter()
                .map(|s| (s.as_str(), 1))
                .collect::<Vec<_>>()
        };
        assert!(items(&lines(MAX_LINES)).is_ok());
        assert_eq!(items(&lines(MAX_LINES + 1)).unwrap_err().field, "items");
    }

    #[test]
    fn an_empty_cart_is_valid_and_order_is_kept() {
        assert_eq!(items(&[]).unwrap().lines().len(), 0);
        let cart = items(&[("b", 2), ("a", 1)]).unwrap();
        let skus: Vec<&str> = cart.lines().iter().map(|l| l.sku.as_str()).collect();
        assert_eq!(skus, ["b", "a"]);
    }

    #[test]
    fn errors_never_repeat_the_value_sent() {
        let error = items(&[("<script>", 1)]).unwrap_err();
        assert!(!error.to_string().contains("script"));
    }
}
