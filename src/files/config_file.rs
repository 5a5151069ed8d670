//! Reading the config file: the one file read behind `qrgate_core::config::Config`, done here
//! because the core does no I/O (its `Config::parse` takes the text).

use std::path::Path;

use qrgate_core::config::{Config, ConfigError};

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut config = Config::parse(&text, path)?;
    crate::oidc::secrets::resolve(&mut config)?;
    Ok(config)
}
