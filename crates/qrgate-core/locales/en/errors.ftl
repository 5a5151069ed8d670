# What the gateway says when it refuses, in English: error pages (a title and a message)
# and the `message` of JSON answers that pages show. $detail is a technical detail in
# English; place it where it reads well, or leave it out.

## Titles of error pages

title-something-went-wrong = Something went wrong
title-sign-in-not-complete = Sign-in not complete
title-not-found = Not found
title-bad-request = Bad request
title-outside-grant = Not allowed with this sign-in
title-confirm-it-is-you = Confirm it is you
title-sign-in-unavailable = Sign-in is unavailable
title-temporarily-unavailable = Temporarily unavailable
title-invitation-gone = Invitation no longer valid
title-device-not-added = Device not added
title-upstream-unavailable = The application is not answering
title-upstream-timeout = The application took too long
title-body-too-slow = The request arrived too slowly
title-request-incomplete = Sign-in request incomplete
title-unknown-application = Unknown application
title-sign-in-request-refused = Sign-in request refused
title-not-allowed = Not allowed
title-sign-out-refused = Sign-out request refused
title-sign-in-link-not-valid = Sign-in link not valid
title-sign-in-refused = Sign-in refused
title-nothing-to-sign-out = Nothing to sign out
title-nothing-to-do = Nothing to do
title-unknown-code = Unknown code

## Requests and pages

error-unknown-host = No application is served at this address.
error-bad-path = The address is not valid: { $detail }.
error-outside-grant = Your sign-in was granted { $access } access here, which does not allow this request.
error-step-up-required = Confirm it is you on your phone, then retry.
error-step-up-page = This needs a fresh approval from your phone: open { $location }, approve, then retry.
error-invalid-bearer = The bearer token is unknown, expired, revoked, or not for this app.
error-sign-in-first = Sign in first.
error-sessions-unavailable = Sessions cannot be checked right now. Try again in a moment.
error-upstream-unavailable = The gateway could not reach the application. Try again in a moment.
error-upstream-timeout = The application did not answer in time. Try again in a moment.
error-bad-request = The request could not be understood.
error-body-too-slow = The request body stalled or arrived below the gateway's minimum rate. Send it again.
error-gateway = The gateway could not complete this request.
error-no-endpoint = No such gateway endpoint.
error-assertions-off = Identity assertions are not enabled.
error-method-not-allowed = This endpoint does not accept that method.
error-page-failed = The page could not be shown.

## Signing in

error-attempt-unknown = This sign-in is unknown. Reload the page to start again.
error-attempt-expired = This sign-in has expired. Reload the page to start again.
error-attempt-done = This sign-in was already completed or declined.
error-attempt-not-approved = This sign-in has not been approved yet.
error-attempt-other-browser = This sign-in was started in another browser.
error-attempt-other-purpose = This approval was given for something else.
error-attempts-full = Too many sign-ins are in progress. Try again shortly.
error-attempts-client-busy = Too many sign-ins are in progress from this address. Finish or wait for one first.
error-bad-json = The request is not valid JSON: { $detail }
error-unknown-body = Malformed approval: expected a native {"{"}public_key, signature{"}"} or a Tana approval body.
error-not-offered = This app does not accept { $detail } approvals.
error-unknown-channel = No sign-in is waiting on this channel.
error-body-too-large = The request body is larger than { $bytes } bytes.
error-not-permitted = { $user } may not sign in to { $app }.
error-device-other-app = This device of { $user } was added for another app, not { $app }.
error-unknown-key = This key is not registered for { $app }.
error-identity-mismatch = This key belongs to { $owner }, not { $asserted }.
error-cross-origin = This must be done from the application's own pages.
error-unauthenticated = You are not signed in.
# $wait is a duration: "5 seconds".
error-rate-limited = Too many requests from this address; try again in { $wait }.
error-other-key = Confirm with the key you signed in with.
error-other-user = Only a key of { $user } can confirm this.
error-same-device = Confirm with another of your keys: a device cannot approve its own removal.
error-no-other-key = Removing this device needs an approval from another of your keys, and you have none. Ask your administrator to remove it.
error-unknown-device = No such device of yours.
error-other-network = This sign-in was requested from another network. Approve it from a phone on the same network as the computer that shows the code.
error-store = The session store is unavailable right now. Try again in a moment.
error-internal = The gateway could not complete this sign-in.

## Signatures

error-bad-approval = The approval could not be read: { $detail }
error-bad-key = The key is not valid: { $detail }
error-bad-signature-encoding = The signature is not encoded correctly: { $detail }
error-wrong-challenge = The signed message is for another sign-in.
error-inconsistent = userId/username differ between the body and the signed message.
error-undecryptable = The approval does not decrypt with this sign-in's secret.
error-stale = The approval is too old or from the future: { $detail }
error-bad-signature = The signature does not verify: { $detail }
error-bad-token = The token was refused: { $detail }.
error-wrong-capabilities = The token does not grant what this sign-in asked for.
error-replay = This token was used before.

## Devices and invitations

error-invitation-gone = This invitation has been used or has expired. Ask for a new one.
error-unknown-user = No user named { $detail } is configured.
error-unknown-app = No app named { $detail } is configured.
error-bad-query = { $detail }
error-bad-ttl = An invitation lasts between 1 minute and 24 hours.
error-bad-enrollment = Malformed enrollment: { $detail }
error-key-taken = This key is already enrolled.
error-not-configured-user = Only configured users can add devices.
error-under-review = The configuration just changed { $detail }; its old devices are being removed. Try again in a moment.
error-unknown-parameter = Unknown parameter { $detail }: use id, user, key or app.
error-repeated-parameter = Parameter { $detail } is given twice.
error-no-filter = Say which sessions: id, user, key or app.

## Forms the pages post

form-sign-out-scope = Send id=<session id>, token=<token id>, scope=others or scope=all.
form-logout-scope = Send no form, or scope=everywhere.
form-invite = Send nothing, or confirm=<attempt id>.
form-remove-device = Send device=<device id>.
form-unknown-user-code = This code is unknown, used or expired. Check the code the program shows, or start the program's sign-in again.
form-personal = Send name, app, access and days (and confirm=<attempt id> once approved).
form-personal-off = Personal tokens need the gateway's sign-in origin ([sso]) and its built-in client.
form-personal-name = Give the token a name of 1 to 64 characters.
form-personal-app = Choose an app that lets programs in.
form-personal-access = Choose read or read-write access.
form-personal-days = Choose how many days the token lasts, within what the gateway allows.

## Single sign-on and OpenID Connect

error-no-provider = No OpenID Connect provider is configured here.
error-missing-client = The application did not say who it is (client_id). Go back to it and try again.
error-unknown-client = This application is not registered with this sign-in service.
error-bad-redirect-uri = The application asked to be answered at an address it has not registered, so this sign-in will not send you there.
error-client-not-allowed = Your account may not use this application.
error-logout-repeated = A parameter is given more than once.
error-logout-unknown-hint = The id_token_hint is not one this provider issued.
error-logout-client-mismatch = client_id does not match the id_token_hint.
error-sso-no-app = No app signs in through this origin.
error-sso-no-binding = The request names no browser binding.
error-sso-not-allowed = You are signed in to { $gateway }, but your account may not use { $app }. Ask its administrator for access.
error-sso-code-spent = The sign-in code was used or has expired. Open the application again to sign in.
error-sso-code-other-app = The sign-in code was issued for another app. Open the application again to sign in.
error-sso-code-other-browser = The sign-in code was issued to another browser or for another sign-in. Open the application again to sign in.
error-sso-cross-origin = The sign-in must be completed from the application's own page.
form-personal-name-hidden = A token's name may hold no control, format or invisible characters (such as bidi overrides or zero-width spaces).
form-personal-too-many = You hold as many personal tokens as one person may: revoke one first.
title-too-many-codes = Too many wrong codes
error-too-many-codes = Too many wrong codes were typed here lately, so no code is checked for a while. Wait a few minutes, then type the code the program shows.
title-too-many-requests = Too many requests
error-token-rate-limited = This token made too many requests; try again in { $wait }.
