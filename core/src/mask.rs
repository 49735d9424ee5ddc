//! Masking of secrets in text that is about to leave pgmig (error messages, details, logs).
//! Defence in depth: no code path is meant to put a password into a message, but messages from
//! servers and libraries are not ours, so every one passes through here before it is shown.

use std::borrow::Cow;

/// What a masked secret is replaced with.
pub const MASK: &str = "********";

/// `text` with every occurrence of `secret` replaced by [`MASK`]. An empty secret masks nothing.
pub fn mask_secret<'a>(text: &'a str, secret: &str) -> Cow<'a, str> {
    if secret.is_empty() || !text.contains(secret) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.replace(secret, MASK))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence() {
        assert_eq!(
            mask_secret("login 'sa' with hunter2 failed: hunter2", "hunter2"),
            "login 'sa' with ******** failed: ********"
        );
    }

    #[test]
    fn leaves_other_text_alone() {
        assert!(matches!(
            mask_secret("no secret here", "hunter2"),
            Cow::Borrowed(_)
        ));
        assert_eq!(mask_secret("anything", ""), "anything");
    }
}
