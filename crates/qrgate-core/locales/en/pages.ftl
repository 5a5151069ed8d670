# qrgate's pages, in English: the reference catalog. Every other catalog has exactly these
# messages. Placeables ({ $name }) are filled in by the gateway; keep them, reorder freely.

## Dates and durations

# A moment, in UTC. $month is 1–12.
date-time = { $month ->
        [1] Jan
        [2] Feb
        [3] Mar
        [4] Apr
        [5] May
        [6] Jun
        [7] Jul
        [8] Aug
        [9] Sep
        [10] Oct
        [11] Nov
       *[12] Dec
    } { $day }, { $year }, { $time } UTC
date-unknown = unknown
duration-seconds = { $n ->
        [one] { $n } second
       *[other] { $n } seconds
    }
duration-minutes = { $n ->
        [one] { $n } minute
       *[other] { $n } minutes
    }
duration-hours = { $n ->
        [one] { $n } hour
       *[other] { $n } hours
    }
duration-days = { $n ->
        [one] { $n } day
       *[other] { $n } days
    }

## The login page

login-title = Sign in to { $app }
login-title-device = Approve a program — { $app }
login-title-action = Confirm with your phone — { $app }
login-title-step-up = Confirm it is you — { $app }
login-heading = Sign in to { $app }
login-hint = Scan the code with your signing app, then confirm on your phone. No password, and your key never leaves your phone.
login-device-heading = Approve a program
login-device-hint = Compare the code with the one the program shows. If it is yours, scan the QR code with your signing app and approve there; if not, decline on the phone.
login-action-heading = Confirm with your phone: { $action }
login-action-hint = Scan the code with a phone that already holds one of your keys and approve there; the phone shows what it approves. Nothing changes until it does.
login-step-up-heading = Confirm it is you
login-step-up-hint = This part of { $app } needs a fresh approval. Scan the code with the phone you signed in with, and confirm there; then you go on to where you were.
login-noscript = After approving on your phone, continue here:
login-continue = Continue
login-this-device-sign-in = Sign in with this device
login-this-device-confirm = Confirm with this device
login-this-device-hint = This browser holds a key for { $user }. Or scan the code with another phone:
login-signing-app = Signing app
login-qr-label = QR code to sign in with { $app }
login-open-app = Open { $app } on this device
login-copy = Copy code
login-copied = Copied
login-code-as-text = Login code as text
# $seconds counts down on the page.
login-expires-in = This code expires in { $seconds } s.

## What the login page says while it waits

status-waiting = Waiting for your phone…
status-scanned = Code scanned — confirm on your phone.
status-approved-device = Approved. The program continues on its own; you may close this page.
status-claim-failed = Sign-in could not be completed.
status-claim-failed-reload = Sign-in could not be completed. Reload to try again.
status-confirmed-by = Confirmed by { $name }.
status-signed-in-as = Signed in as { $name }.
status-declined = Sign-in was declined on the phone.
status-lost = Lost contact with the sign-in service. Reload the page to try again.
status-reconnecting = Reconnecting…

## The approval page (a phone's browser)

approve-title = Approve sign-in to { $app }
approve-title-action = Confirm a change to your account
approve-heading = Sign in to { $app }?
approve-hint = A computer is asking to sign in with your key. Approve only if it is in front of you.
approve-step-up-heading = Confirm it is you
approve-action-heading = Confirm: { $action }?
approve-not-sign-in = This is not a sign-in.
approve-action-hint = A computer signed in as you asks to { $action }. Approve only if you asked for this yourself, on the computer in front of you.
approve-app = App
approve-address = Address
approve-asked-by = Asked by
approve-from = From
approve-at = At
approve-access = Access
approve-action = Action
approve-signing-in-as = Signing in as
approve-confirming-as = Confirming as
approve-approve = Approve
approve-decline = Decline
approve-no-key = This phone has no key for { $origin }.
approve-no-key-hint = To sign in with this phone's browser, it must be added first: ask your administrator for an invitation link, or open the sessions page on a computer where you are signed in and choose “Add a phone”. Open the link here, on this phone; then scan the sign-in code again.
approve-unsupported = This browser cannot sign in for you.
approve-unsupported-hint = It needs Ed25519 in WebCrypto on an HTTPS address. Current Chrome (137 or newer), Safari (17 or newer) and Firefox (129 or newer) have it; or use Pubky Ring or tana-mobile.
status-approving = Approving…
status-confirmed-go-back = Confirmed — go back to your computer.
status-done-go-back = Done — go back to your computer.
status-declined-nothing-changed = Declined. Nothing was changed.
status-declined-nobody = Declined. Nobody was signed in.

## This browser as a signer

device-unenrolled = This device is no longer enrolled. Ask for a new invitation.
device-refused = The gateway refused ({ $status }).
device-other-site = This sign-in is not for this site; nothing was signed.
device-other-action = This approval is not what this page shows; nothing was signed.

## Adding a phone

enroll-title = Add this phone — { $app }
enroll-heading = Add this phone
enroll-intro = This invitation lets this phone sign in to { $app } ({ $origin }) as { $user }.
enroll-hint = The phone makes a key that never leaves this browser. Afterwards, scan a sign-in code with the camera and approve here. The invitation works once and expires { $expires }.
enroll-replaces = This browser already signs in as { $user }; adding it again replaces that key.
enroll-other-user = Yes: from now on this phone signs in as { $user }, not as { $current }.
enroll-button = Add this phone
enroll-unsupported = This browser cannot keep a signing key.
enroll-unsupported-hint = It needs Ed25519 in WebCrypto on an HTTPS address. Current Chrome (137 or newer), Safari (17 or newer) and Firefox (129 or newer) have it. Open the link in one of them; the invitation is still unused.
status-adding = Adding this phone…
status-add-failed = This phone could not be added.
status-add-failed-because = This phone could not be added: { $reason }
status-added = This phone now signs in as { $user }. Scan a sign-in code with the camera to use it.
invite-title = Add a phone — { $app }
invite-heading = Add a phone
invite-intro = Scan this code with the camera of the phone you want to add. It will sign in to { $app } as { $user }.
invite-qr-label = QR code of the invitation link
invite-link-label = Invitation link (works once, until { $expires })
invite-warning = Anyone with this link can add a phone to your account until it is used: do not share it.
invite-back = Back to your sessions

## The sessions page

sessions-title = Your sessions — { $app }
sessions-signed-in-as = Signed in as { $user }
sessions-key-hint = You are signed in here with the key { $key }….
sessions-keys = Your keys
sessions-signed-in-here = signed in here
sessions-key-line = { $app } · enrolled: { $enrolled } · last used: { $last_used }
sessions-configured-key = Key from the gateway's configuration
sessions-every-app = every app you may use
sessions-by-administrator = by your administrator
sessions-no-live-session = no live session
sessions-remove-device = Remove this device
sessions-removable-hint = Removing a device ends its sessions everywhere; another of your keys must approve it on a phone.
sessions-single-key-hint = With a single key you cannot remove it here: another of your keys must approve a removal. Ask your administrator.
sessions-heading = Your sessions
sessions-count = { $n ->
        [one] One session.
       *[other] { $n } sessions.
    }
sessions-hint = Every session of yours on this gateway, whichever of your keys signed it in. Sign out any you do not recognize.
sessions-this-browser = this browser
sessions-since = since { $since } · last seen { $last_seen }
sessions-sign-out-one = Sign out this session
sessions-programs = Programs and scripts
sessions-programs-hint = Tokens your phone approved for programs. Revoking one stops it at once, everywhere.
sessions-token-line = { $grant } · from { $from } · since { $since } · until { $until }
sessions-token-used-from = last used { $when } from { $from }
sessions-token-used = last used { $when }
sessions-token-unused = not used yet
sessions-personal-token-name = “{ $name }” (personal token)
sessions-revoke = Revoke
sessions-personal-heading = Make a personal token
sessions-personal-hint = For a job that runs without you: your phone approves it now, and it is shown once.
sessions-personal-name = Name
sessions-personal-app = App
sessions-personal-access = Access
sessions-access-read = read
sessions-access-read-write = read-write
sessions-personal-days = Days
sessions-personal-make = Make a token
sessions-sign-out-others = Sign out all other sessions
sessions-sign-out-all = Sign out everywhere
sessions-add-phone = Add a phone
sessions-add-phone-hint = Sign in with a phone's camera and browser, no app needed: confirm on a phone that already holds one of your keys, then open the one-time invitation on the new phone.

## A personal token, shown once

shown-token-title = Your personal token
shown-token-heading = Personal token “{ $name }”
shown-token-what = { $access } access to { $app } until { $until }. Copy it now: it is not shown again.
shown-token-usage = Send it as
shown-token-back = Revoke it on your sessions page

## Smaller pages

sso-signing-in = Signing in to { $app }…
logout-title = Sign out of { $app }
logout-heading = Sign out of { $app }?
logout-button = Sign out
signed-out-title = Signed out of { $app }
signed-out-heading = Signed out
signed-out-text = You are signed out of { $app }.
device-code-title = Approve a program — { $gateway }
device-code-hint = Type the code the program shows.
device-code-label = Code
sessions-everywhere-ends-tokens = Sign out everywhere also ends every token of programs and scripts you hold, personal tokens included: the jobs using them stop. Signing out all other sessions leaves them.
