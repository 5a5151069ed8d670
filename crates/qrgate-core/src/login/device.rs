//! A program's device code approved or declined on the phone (RFC 8628): the attempt's
//! outcome is recorded with the device code, which the program then redeems at the token
//! endpoint. Nobody claims such an attempt.

use crate::gateway::Gateway;
use crate::identity::Identity;
use crate::login::attempts::{AttemptError, DeviceConsent};
use crate::oidc::device::DeviceApproval;
use crate::settings::Settings;

use super::LoginError;

/// The phone approved `consent`'s device code as `identity`. A code that expired or was
/// decided meanwhile yields nothing (the approval is refused as late).
pub(super) async fn approved(
    gw: &Gateway,
    s: &Settings,
    consent: &DeviceConsent,
    identity: &Identity,
) -> Result<(), LoginError> {
    let now_ms = gw.clock().now_millis();
    let subject = s
        .config
        .user_by_name(&identity.user)
        .map(|(_, u)| u.subject.clone())
        .ok_or(LoginError::Attempt(AttemptError::Expired))?;
    let approval = DeviceApproval {
        user: identity.user.clone(),
        subject,
        key: hex::encode(identity.key),
        auth_time: now_ms / 1000,
    };
    let codes = gw.oidc().device_codes();
    if codes.decide(consent.device, Some(approval), now_ms).await? {
        Ok(())
    } else {
        Err(AttemptError::Expired.into())
    }
}

/// The phone declined: the device code ends with `access_denied`.
pub(super) async fn declined(gw: &Gateway, consent: &DeviceConsent) -> Result<(), LoginError> {
    let now_ms = gw.clock().now_millis();
    gw.oidc()
        .device_codes()
        .decide(consent.device, None, now_ms)
        .await?;
    Ok(())
}
