//! Errors of the object loader: what is wrong, and where (object, section, symbol,
//! instruction).

use std::fmt;

/// Where in an object a problem lies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// Section name.
    pub section: Option<String>,
    /// Symbol (program, map or variable) name.
    pub symbol: Option<String>,
    /// Instruction index within the section or program.
    pub insn: Option<usize>,
}

/// Why an object cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ObjectError {
    /// The object's name (its file name).
    pub object: String,
    /// Where.
    pub at: Location,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ObjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.object)?;
        if let Some(s) = &self.at.section {
            write!(f, ": section `{s}`")?;
        }
        if let Some(s) = &self.at.symbol {
            write!(f, ": `{s}`")?;
        }
        if let Some(i) = self.at.insn {
            write!(f, ": instruction {i}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Builds errors for one object.
#[derive(Debug, Clone)]
pub(crate) struct Errors {
    pub(crate) object: String,
}

impl Errors {
    pub(crate) fn at(&self, at: Location, reason: impl Into<String>) -> ObjectError {
        ObjectError {
            object: self.object.clone(),
            at,
            reason: reason.into(),
        }
    }

    pub(crate) fn whole(&self, reason: impl Into<String>) -> ObjectError {
        self.at(Location::default(), reason)
    }

    pub(crate) fn section(&self, section: &str, reason: impl Into<String>) -> ObjectError {
        self.at(
            Location {
                section: Some(section.to_string()),
                ..Location::default()
            },
            reason,
        )
    }

    pub(crate) fn symbol(
        &self,
        section: &str,
        symbol: &str,
        reason: impl Into<String>,
    ) -> ObjectError {
        self.at(
            Location {
                section: Some(section.to_string()),
                symbol: Some(symbol.to_string()),
                insn: None,
            },
            reason,
        )
    }

    pub(crate) fn insn(
        &self,
        section: &str,
        insn: usize,
        reason: impl Into<String>,
    ) -> ObjectError {
        self.at(
            Location {
                section: Some(section.to_string()),
                symbol: None,
                insn: Some(insn),
            },
            reason,
        )
    }
}
