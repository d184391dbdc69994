//! The access-token signing keys as a set that rotates without downtime.
//!
//! The set lives in the signing-key secret (private halves; only the
//! minting functions and the rotation read it). Each key is `next`
//! (published, not yet signing), `current` (signing) or `previous` (no longer
//! signing, still published until every token it signed has expired). The
//! rotation moves a key along, one step per scheduled tick:
//!
//! 1. no `next` and the `current` key is old enough: a new `next` key;
//! 2. published (its public half in the verifiers' store) at least
//!    `propagation` ago, which is longer than a verifier keeps the published
//!    set: `next` becomes `current`, and `current` becomes `previous`;
//! 3. a `previous` key is retired (gone from the set and from what is
//!    published) `retire_after` it stopped signing: longer than a signer
//!    keeps the secret plus the longest access-token lifetime.
//!
//! So a key is published before anything signs with it, and stays published
//! until the last token it signed has expired: no valid token is refused.
//! An emergency withdrawal removes a key at once (its tokens are refused
//! through the deny-list too; see `keystore`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::keys::{KeyError, PublicKeys, SigningKey};
use crate::ids::new_id;
use crate::time::Timestamp;

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    /// Signing (exactly one, once the set has any key).
    Current,
    /// No longer signing; published until its tokens have expired.
    Previous,
}

/// One key of the set, with its private half.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// The `kid` of its tokens.
    pub kid: String,
    /// Standard base64 of its PKCS#8 DER document.
    pub private_key_pkcs8: String,
    /// Where it is in its life.
    pub state: KeyState,
    /// When it was made (seconds since the epoch).
    pub created_at: u64,
    /// When its public half was first seen published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<u64>,
    /// When it began to sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_since: Option<u64>,
    /// When a `previous` key leaves the set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_at: Option<u64>,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("kid", &self.kid)
            .field("state", &self.state)
            .field("private_key_pkcs8", &"<redacted>")
            .finish()
    }
}

impl KeyEntry {
    /// A new key, made at `now`, in `state`.
    pub fn generate(state: KeyState, now: Timestamp) -> Result<Self, KeyError> {
        let kid = format!("k-{}", new_id());
        let (private_key_pkcs8, _) = SigningKey::generate_parts(&kid)?;
        Ok(Self {
            kid,
            private_key_pkcs8,
            state,
            created_at: now.0,
            published_at: None,
            current_since: (state == KeyState::Current).then_some(now.0),
            retire_at: None,
        })
    }

    fn signing_key(&self) -> Result<SigningKey, KeyError> {
        SigningKey::from_parts(&self.kid, &self.private_key_pkcs8)
    }
}

/// How often keys rotate, and the delays that keep every token verifiable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// How long a key signs before the next one is made (default 30 days).
    pub rotate_every: u64,
    /// How long a new key is published before it signs: longer than a
    /// verifier keeps the published set (default 15 minutes).
    pub propagation: u64,
    /// How long a key stays published once it stopped signing: longer than
    /// a signer keeps the secret plus an access token's lifetime.
    pub retire_after: u64,
}

/// What a tick or a withdrawal changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Keys made.
    pub created: Vec<String>,
    /// Keys that began to sign.
    pub promoted: Vec<String>,
    /// Keys that left the set.
    pub retired: Vec<String>,
}

impl Changes {
    /// Whether anything changed.
    pub fn any(&self) -> bool {
        !(self.created.is_empty() && self.promoted.is_empty() && self.retired.is_empty())
    }
}

/// The signing keys: what the signing-key secret holds.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySet {
    /// Every key not yet retired.
    pub keys: Vec<KeyEntry>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.keys).finish()
    }
}

/// The secret of a single key, as `cargo xtask keygen` wrote it before
/// keys rotated: read as a set whose one key is current.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SingleKey {
    kid: String,
    private_key_pkcs8: String,
}

impl KeySet {
    /// Reads the secret: `{"keys": [...]}`, or a single key of the earlier form.
    pub fn from_secret(text: &str) -> Result<Self, KeyError> {
        if let Ok(set) = serde_json::from_str::<KeySet>(text) {
            for key in &set.keys {
                key.signing_key()?;
            }
            return Ok(set);
        }
        let single: SingleKey =
            serde_json::from_str(text).map_err(|_| KeyError::InvalidSigningKey)?;
        SigningKey::from_parts(&single.kid, &single.private_key_pkcs8)?;
        Ok(Self {
            keys: vec![KeyEntry {
                kid: single.kid,
                private_key_pkcs8: single.private_key_pkcs8,
                state: KeyState::Current,
                created_at: 0,
                published_at: None,
                current_since: Some(0),
                retire_at: None,
            }],
        })
    }

    /// A set of one current key, made at `now` (a deployment's first key).
    pub fn first(now: Timestamp) -> Result<Self, KeyError> {
        Ok(Self {
            keys: vec![KeyEntry::generate(KeyState::Current, now)?],
        })
    }

    /// The secret's JSON.
    pub fn to_secret(&self) -> Result<String, KeyError> {
        serde_json::to_string(self).map_err(|_| KeyError::InvalidSigningKey)
    }

    fn with_state(&self, state: KeyState) -> Option<&KeyEntry> {
        self.keys.iter().find(|key| key.state == state)
    }

    /// The key that signs now.
    pub fn signing_key(&self) -> Result<SigningKey, KeyError> {
        self.with_state(KeyState::Current)
            .ok_or(KeyError::InvalidSigningKey)?
            .signing_key()
    }

    /// The published JWK Set: the public half of every key in the set.
    pub fn public_jwks(&self) -> Result<Value, KeyError> {
        let keys = self
            .keys
            .iter()
            .map(|key| key.signing_key().map(|k| k.public_jwk()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(json!({ "keys": keys }))
    }

    /// Moves the set one step along at `now` (see the module's doc).
    /// `published` are the kids the verifiers' store holds now: a `next` key
    /// begins to sign only once it is among them.
    pub fn advance(
        &mut self,
        now: Timestamp,
        policy: &RotationPolicy,
        published: &PublicKeys,
    ) -> Result<Changes, KeyError> {
        let mut changes = Changes::default();
        self.keys.retain(|key| {
            let due = key.state == KeyState::Previous && key.retire_at.is_some_and(|t| t <= now.0);
            if due {
                changes.retired.push(key.kid.clone());
            }
            !due
        });
        let has_current = self.with_state(KeyState::Current).is_some();
        // With no key signing, the next one signs at once (verifiers refetch
        // the published set on a kid they do not know).
        let ready = self.keys.iter().position(|key| {
            key.state == KeyState::Next
                && (!has_current
                    || published.get(&key.kid).is_some()
                        && key
                            .published_at
                            .is_some_and(|t| now.0 >= t.saturating_add(policy.propagation)))
        });
        if let Some(index) = ready {
            for key in &mut self.keys {
                if key.state == KeyState::Current {
                    key.state = KeyState::Previous;
                    key.retire_at = Some(now.0.saturating_add(policy.retire_after));
                }
            }
            let key = &mut self.keys[index];
            key.state = KeyState::Current;
            key.current_since = Some(now.0);
            changes.promoted.push(key.kid.clone());
        }
        let current = self.with_state(KeyState::Current);
        let has_next = self.with_state(KeyState::Next).is_some();
        let due = current.is_some_and(|key| {
            key.current_since
                .is_some_and(|t| now.0 >= t.saturating_add(policy.rotate_every))
        });
        if current.is_none() && !has_next {
            // No key signs (a first deployment, or the current one was
            // withdrawn): one signs at once; verifiers refetch on its kid.
            let key = KeyEntry::generate(KeyState::Current, now)?;
            changes.created.push(key.kid.clone());
            changes.promoted.push(key.kid.clone());
            self.keys.push(key);
        } else if due && !has_next {
            let key = KeyEntry::generate(KeyState::Next, now)?;
            changes.created.push(key.kid.clone());
            self.keys.push(key);
        }
        Ok(changes)
    }

    /// Records that every key of the set is published as of `now`; whether
    /// any key was newly so.
    pub fn mark_published(&mut self, now: Timestamp) -> bool {
        let mut changed = false;
        for key in &mut self.keys {
            if key.published_at.is_none() {
                key.published_at = Some(now.0);
                changed = true;
            }
        }
        changed
    }

    /// Removes key `kid` at once (it is known to be compromised); whether it was here.
    pub fn withdraw(&mut self, kid: &str) -> bool {
        let before = self.keys.len();
        self.keys.retain(|key| key.kid != kid);
        self.keys.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RotationPolicy = RotationPolicy {
        rotate_every: 1000,
        propagation: 100,
        retire_after: 300,
    };

    fn published(set: &KeySet) -> PublicKeys {
        PublicKeys::from_published(&set.public_jwks().unwrap().to_string()).unwrap()
    }

    fn states(set: &KeySet) -> Vec<KeyState> {
        set.keys.iter().map(|k| k.state).collect()
    }

    /// A tick as the rotation runs it: advance, publish, record it.
    fn tick(set: &mut KeySet, now: u64) -> Changes {
        let before = published(set);
        let changes = set.advance(Timestamp(now), &POLICY, &before).unwrap();
        set.mark_published(Timestamp(now));
        changes
    }

    #[test]
    fn a_key_is_published_before_it_signs_and_after_its_last_token() {
        let mut set = KeySet::first(Timestamp(0)).unwrap();
        set.mark_published(Timestamp(0));
        let first = set.signing_key().unwrap().kid().to_string();
        assert!(!tick(&mut set, 999).any(), "not due yet");
        let made = tick(&mut set, 1000);
        assert_eq!(made.created.len(), 1);
        assert_eq!(states(&set), [KeyState::Current, KeyState::Next]);
        assert_eq!(
            set.signing_key().unwrap().kid(),
            first,
            "next does not sign"
        );
        assert!(!tick(&mut set, 1099).any(), "still propagating");
        let promoted = tick(&mut set, 1100);
        assert_eq!(promoted.promoted, [made.created[0].clone()]);
        assert_eq!(states(&set), [KeyState::Previous, KeyState::Current]);
        assert!(
            published(&set).get(&first).is_some(),
            "previous stays published"
        );
        assert!(!tick(&mut set, 1399).any());
        assert_eq!(tick(&mut set, 1400).retired, [first]);
        assert_eq!(states(&set), [KeyState::Current]);
    }

    #[test]
    fn a_next_key_the_verifiers_do_not_have_never_signs() {
        let mut set = KeySet::first(Timestamp(0)).unwrap();
        set.mark_published(Timestamp(0));
        let stale = published(&set);
        set.advance(Timestamp(1000), &POLICY, &stale).unwrap();
        set.mark_published(Timestamp(1000));
        // The store still holds the old set (say a publish was lost).
        let changes = set.advance(Timestamp(5000), &POLICY, &stale).unwrap();
        assert!(changes.promoted.is_empty());
        assert_eq!(states(&set), [KeyState::Current, KeyState::Next]);
    }

    #[test]
    fn a_withdrawn_current_key_is_replaced_at_once() {
        let mut set = KeySet::first(Timestamp(0)).unwrap();
        set.mark_published(Timestamp(0));
        let compromised = set.signing_key().unwrap().kid().to_string();
        assert!(set.withdraw(&compromised));
        assert!(!set.withdraw(&compromised));
        let changes = tick(&mut set, 10);
        assert_eq!(changes.created.len(), 1);
        assert_eq!(changes.promoted, changes.created);
        assert_ne!(set.signing_key().unwrap().kid(), compromised);
        assert!(published(&set).get(&compromised).is_none());
    }

    #[test]
    fn the_secret_round_trips_and_reads_the_single_key_form() {
        let set = KeySet::first(Timestamp(5)).unwrap();
        let again = KeySet::from_secret(&set.to_secret().unwrap()).unwrap();
        assert_eq!(again, set);
        let (single, key) = SigningKey::generate("old").unwrap();
        let read = KeySet::from_secret(&single).unwrap();
        assert_eq!(read.signing_key().unwrap().kid(), key.kid());
        assert!(KeySet::from_secret("{}").is_err());
        assert!(!format!("{set:?}").contains(&set.keys[0].private_key_pkcs8));
    }
}
