//! Actions confirmed by phone: what a person may do from a signed-in browser only once one of
//! their existing keys approved *that action*, whatever the session's age.
//!
//! A confirmation is a login attempt with a purpose ([`Confirm`]): the browser that asked
//! shows it as a QR code like a sign-in, the phone sees (and, with the native protocol,
//! signs) the action's description, and the same browser claims it — as that action only,
//! never as a session or as another action ([`crate::login::attempts::Logins::claim`] and the
//! share's claim compare the purpose exactly). This module says what the actions are, how
//! each is described and written down, and which keys may approve it; it does no I/O.

use crate::devices::device_id;
use crate::raw::{KeyBytes, TokenHash};

/// Something a person does to their own account that outlives every session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Make an invitation to enroll a new device for `user`.
    AddDevice {
        /// The configured user the new device would sign in as.
        user: String,
    },
    /// Remove the enrolled device with public id `device` of `user` (and end its sessions).
    RemoveDevice {
        /// Its owner.
        user: String,
        /// Its public id ([`device_id`]).
        device: String,
    },
    /// Make a personal token for `user`: named, for one app, read-only or not, lasting
    /// `days` (0: no expiry, where the operator allows it).
    PersonalToken {
        /// The person.
        user: String,
        /// The token's name.
        name: String,
        /// The app it is for.
        app: String,
        /// Reads only.
        read_only: bool,
        /// Days it lasts; 0 for no expiry.
        days: u32,
    },
}

/// Why a key may not approve an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NotApprover {
    /// The key is not one of the action's user's keys.
    OtherUser,
    /// The key is the device the action removes.
    SameDevice,
}

impl Action {
    /// The person the action is for.
    pub(crate) fn user(&self) -> &str {
        match self {
            Action::AddDevice { user }
            | Action::RemoveDevice { user, .. }
            | Action::PersonalToken { user, .. } => user,
        }
    }

    /// What the phone shows (and the native challenge signs): one line, no line breaks.
    pub(crate) fn describe(&self) -> String {
        let text = match self {
            Action::AddDevice { user } => format!("add a new device for {user}"),
            Action::RemoveDevice { user, device } => {
                format!("remove device {device} of {user}")
            }
            Action::PersonalToken {
                user,
                name,
                app,
                read_only,
                days,
            } => {
                let access = crate::login::signers::program::access(*read_only);
                let until = match days {
                    0 => "that never expires".to_string(),
                    1 => "for 1 day".to_string(),
                    n => format!("for {n} days"),
                };
                format!("make a personal token \"{name}\" of {user} with {access} access to {app} {until}")
            }
        };
        crate::http::shown::one_line(&text)
    }

    /// The exact written form kept with the attempt and compared by the claim; injective
    /// (the user name comes last and may hold anything, the device id is fixed hex).
    pub fn wire(&self) -> String {
        match self {
            Action::AddDevice { user } => format!("add-device:{user}"),
            Action::RemoveDevice { user, device } => format!("remove-device:{device}:{user}"),
            Action::PersonalToken {
                user,
                name,
                app,
                read_only,
                days,
            } => {
                let enc = |t: &str| {
                    url::form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()
                };
                let access = if *read_only { "r" } else { "w" };
                format!(
                    "personal-token:{days}:{access}:{}:{}:{user}",
                    enc(app),
                    enc(name)
                )
            }
        }
    }

    /// [`Action::wire`] read back; `None` for anything else.
    pub(crate) fn from_wire(text: &str) -> Option<Action> {
        if let Some(rest) = text.strip_prefix("personal-token:") {
            let mut parts = rest.splitn(5, ':');
            let days = parts.next()?.parse().ok()?;
            let read_only = match parts.next()? {
                "r" => true,
                "w" => false,
                _ => return None,
            };
            let dec = |t: &str| {
                url::form_urlencoded::parse(format!("x={t}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .filter(|v| !v.is_empty())
            };
            let app = dec(parts.next()?)?;
            let name = dec(parts.next()?)?;
            let user = parts.next().filter(|u| !u.is_empty())?.to_string();
            return Some(Action::PersonalToken {
                user,
                name,
                app,
                read_only,
                days,
            });
        }
        if let Some(user) = text.strip_prefix("add-device:") {
            return (!user.is_empty()).then(|| Action::AddDevice {
                user: user.to_string(),
            });
        }
        let rest = text.strip_prefix("remove-device:")?;
        let (device, user) = rest.split_once(':')?;
        let hex_id = device.len() == 24 && device.bytes().all(|b| b.is_ascii_hexdigit());
        (hex_id && !user.is_empty()).then(|| Action::RemoveDevice {
            user: user.to_string(),
            device: device.to_ascii_lowercase(),
        })
    }

    /// Whether the key `key`, belonging to `owner` (its configured user or its device's), may
    /// approve this action: only one of the same person's keys, and for a removal never the
    /// device being removed (a lost phone cannot keep itself).
    pub(crate) fn approver(&self, owner: Option<&str>, key: &KeyBytes) -> Result<(), NotApprover> {
        if owner != Some(self.user()) {
            return Err(NotApprover::OtherUser);
        }
        if let Action::RemoveDevice { device, .. } = self {
            if device_id(key) == *device {
                return Err(NotApprover::SameDevice);
            }
        }
        Ok(())
    }
}

/// What a confirmation attempt confirms: `action`, asked for by the live session `session`
/// (its token hash), which must still be the one claiming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// The asking session's token hash.
    pub(crate) session: TokenHash,
    /// The action.
    pub(crate) action: Action,
    text: String,
}

impl Confirm {
    /// A confirmation of `action` for the session `session`.
    pub(crate) fn new(session: TokenHash, action: Action) -> Self {
        let text = action.describe();
        Confirm {
            session,
            action,
            text,
        }
    }

    /// The action's description, as shown to the person approving.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removal(user: &str, key: &KeyBytes) -> Action {
        Action::RemoveDevice {
            user: user.into(),
            device: device_id(key),
        }
    }

    #[test]
    fn the_written_form_round_trips_and_odd_ones_are_refused() {
        for action in [
            Action::AddDevice {
                user: "alice".into(),
            },
            Action::AddDevice {
                user: "a: b:c".into(),
            },
            removal("alice smith", &KeyBytes::new([3; 32])),
            removal("x:y", &KeyBytes::new([4; 32])),
            Action::PersonalToken {
                user: "a:b c".into(),
                name: "nightly: backup & more".into(),
                app: "Test app".into(),
                read_only: true,
                days: 30,
            },
            Action::PersonalToken {
                user: "alice".into(),
                name: "x".into(),
                app: "w:read".into(),
                read_only: false,
                days: 0,
            },
        ] {
            assert_eq!(Action::from_wire(&action.wire()), Some(action.clone()));
        }
        for odd in [
            "personal-token:x:r:a:b:alice",
            "personal-token:1:q:a:b:alice",
            "personal-token:1:r::b:alice",
            "personal-token:1:r:a:b:",
        ] {
            assert_eq!(Action::from_wire(odd), None, "{odd:?}");
        }
        for odd in [
            "",
            "add-device:",
            "add-device",
            "remove-device:abc:alice",
            "remove-device:000000000000000000000000:",
            "remove-device:00000000000000000000000g:alice",
            "sign-in:alice",
        ] {
            assert_eq!(Action::from_wire(odd), None, "{odd:?}");
        }
        // Distinct actions never share a written form.
        assert_ne!(
            Action::AddDevice {
                user: "remove-device:x".into()
            }
            .wire(),
            removal("x", &KeyBytes::new([1; 32])).wire()
        );
    }

    #[test]
    fn descriptions_are_one_line_and_say_what_happens() {
        let add = Action::AddDevice {
            user: "alice\nsigned in".into(),
        };
        assert_eq!(add.describe(), "add a new device for alice signed in");
        let text = removal("bob", &KeyBytes::new([5; 32])).describe();
        assert!(text.starts_with("remove device ") && text.ends_with(" of bob"));
    }

    #[test]
    fn no_description_shows_a_control_format_or_invisible_character() {
        // Each field, whoever fills it (a personal token's name is the client's; the rest
        // come from the config), carries every kind the phone must not show as written.
        let hidden =
            "\u{202E}\u{2066}\u{200B}\u{200D}\u{FEFF}\u{00AD}\u{E0041}\u{2028}\u{3164}\n\u{7}";
        let with = |t: &str| format!("a{hidden}{t}");
        let actions = [
            Action::AddDevice { user: with("u") },
            Action::RemoveDevice {
                user: with("u"),
                device: with("d"),
            },
            Action::PersonalToken {
                user: with("u"),
                name: with("n"),
                app: with("w"),
                read_only: true,
                days: 3,
            },
        ];
        for action in &actions {
            let text = action.describe();
            assert_eq!(
                crate::http::shown::first_hidden(&text),
                None,
                "{action:?}: {text:?}"
            );
        }
    }

    #[test]
    fn only_another_key_of_the_same_person_approves() {
        let (phone, laptop) = ([1u8; 32], [2u8; 32]);
        let add = Action::AddDevice {
            user: "alice".into(),
        };
        assert_eq!(add.approver(Some("alice"), &KeyBytes::new(phone)), Ok(()));
        assert_eq!(
            add.approver(Some("bob"), &KeyBytes::new(phone)),
            Err(NotApprover::OtherUser)
        );
        assert_eq!(
            add.approver(None, &KeyBytes::new(phone)),
            Err(NotApprover::OtherUser)
        );
        let remove = removal("alice", &KeyBytes::new(phone));
        assert_eq!(
            remove.approver(Some("alice"), &KeyBytes::new(phone)),
            Err(NotApprover::SameDevice)
        );
        assert_eq!(
            remove.approver(Some("alice"), &KeyBytes::new(laptop)),
            Ok(())
        );
        assert_eq!(
            remove.approver(Some("bob"), &KeyBytes::new(laptop)),
            Err(NotApprover::OtherUser)
        );
    }
}
