//! Prints config tables for the scale curves of `bench/run`: `APPS` more `[[app]]`s (each on a
//! host of its own, all in front of `UPSTREAM`) and `USERS` more `[[user]]`s, each with a key
//! of its own. Appended to a gateway's config, they show whether the cost of a request grows
//! with the number of apps (host lookup) and users (key lookup).
//!
//! Usage: `scale_config APPS USERS UPSTREAM`

use ed25519_dalek::SigningKey;
use std::fmt::Write as _;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(apps), Some(users), Some(upstream)) = (
        args.get(1).and_then(|a| a.parse::<u32>().ok()),
        args.get(2).and_then(|a| a.parse::<u32>().ok()),
        args.get(3),
    ) else {
        eprintln!("usage: scale_config APPS USERS UPSTREAM");
        std::process::exit(2);
    };
    let mut out = String::new();
    for i in 0..apps {
        let _ = writeln!(
            out,
            "[[app]]\nname = \"app{i}\"\norigin = \"http://app{i}.bench\"\nupstream = \"{upstream}\"\n"
        );
    }
    for i in 0..users {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&i.to_le_bytes());
        seed[31] = 0x5a;
        let key = SigningKey::from_bytes(&seed).verifying_key();
        let _ = writeln!(
            out,
            "[[user]]\nname = \"user{i}\"\nkey = \"ed25519_{}\"\nroles = [\"staff\"]\n",
            hex::encode(key.as_bytes())
        );
    }
    print!("{out}");
}
