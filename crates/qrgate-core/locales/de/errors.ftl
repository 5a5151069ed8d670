# Was das Gateway bei einer Ablehnung sagt, auf Deutsch: Fehlerseiten (Titel und Text) und
# die `message` von JSON-Antworten, die Seiten zeigen. $detail ist ein technisches Detail auf
# Englisch; setzen Sie es, wo es sich gut liest, oder lassen Sie es weg.

## Titel der Fehlerseiten

title-something-went-wrong = Etwas ist schiefgegangen
title-sign-in-not-complete = Anmeldung nicht abgeschlossen
title-not-found = Nicht gefunden
title-bad-request = Ungültige Anfrage
title-outside-grant = Mit dieser Anmeldung nicht erlaubt
title-confirm-it-is-you = Bestätigen Sie, dass Sie es sind
title-sign-in-unavailable = Anmeldung nicht verfügbar
title-temporarily-unavailable = Vorübergehend nicht verfügbar
title-invitation-gone = Einladung nicht mehr gültig
title-device-not-added = Gerät nicht hinzugefügt
title-upstream-unavailable = Die Anwendung antwortet nicht
title-upstream-timeout = Die Anwendung hat zu lange gebraucht
title-body-too-slow = Die Anfrage kam zu langsam an
title-request-incomplete = Anmeldeanfrage unvollständig
title-unknown-application = Unbekannte Anwendung
title-sign-in-request-refused = Anmeldeanfrage abgelehnt
title-not-allowed = Nicht erlaubt
title-sign-out-refused = Abmeldeanfrage abgelehnt
title-sign-in-link-not-valid = Anmeldelink ungültig
title-sign-in-refused = Anmeldung abgelehnt
title-nothing-to-sign-out = Nichts abzumelden
title-nothing-to-do = Nichts zu tun
title-unknown-code = Unbekannter Code

## Anfragen und Seiten

error-unknown-host = Unter dieser Adresse wird keine Anwendung bereitgestellt.
error-bad-path = Die Adresse ist ungültig: { $detail }.
error-outside-grant = Ihre Anmeldung hat hier Zugriff „{ $access }“, der diese Anfrage nicht erlaubt.
error-step-up-required = Bestätigen Sie auf Ihrem Telefon, dass Sie es sind, und versuchen Sie es erneut.
error-step-up-page = Dafür ist eine frische Bestätigung vom Telefon nötig: Öffnen Sie { $location }, bestätigen Sie und versuchen Sie es erneut.
error-invalid-bearer = Das Bearer-Token ist unbekannt, abgelaufen, widerrufen oder nicht für diese Anwendung.
error-sign-in-first = Melden Sie sich zuerst an.
error-sessions-unavailable = Sitzungen können gerade nicht geprüft werden. Versuchen Sie es gleich noch einmal.
error-upstream-unavailable = Das Gateway konnte die Anwendung nicht erreichen. Versuchen Sie es gleich noch einmal.
error-upstream-timeout = Die Anwendung hat nicht rechtzeitig geantwortet. Versuchen Sie es gleich noch einmal.
error-bad-request = Die Anfrage war nicht verständlich.
error-body-too-slow = Der Inhalt der Anfrage stockte oder kam langsamer als die Mindestrate des Gateways. Senden Sie ihn erneut.
error-gateway = Das Gateway konnte diese Anfrage nicht abschließen.
error-no-endpoint = Diesen Gateway-Endpunkt gibt es nicht.
error-assertions-off = Identitätszusicherungen sind nicht aktiviert.
error-method-not-allowed = Dieser Endpunkt nimmt diese Methode nicht an.
error-page-failed = Die Seite konnte nicht angezeigt werden.

## Anmelden

error-attempt-unknown = Diese Anmeldung ist unbekannt. Laden Sie die Seite neu, um neu zu beginnen.
error-attempt-expired = Diese Anmeldung ist abgelaufen. Laden Sie die Seite neu, um neu zu beginnen.
error-attempt-done = Diese Anmeldung wurde bereits abgeschlossen oder abgelehnt.
error-attempt-not-approved = Diese Anmeldung ist noch nicht bestätigt.
error-attempt-other-browser = Diese Anmeldung wurde in einem anderen Browser begonnen.
error-attempt-other-purpose = Diese Bestätigung wurde für etwas anderes gegeben.
error-attempts-full = Zu viele Anmeldungen laufen gerade. Versuchen Sie es gleich noch einmal.
error-attempts-client-busy = Von dieser Adresse laufen zu viele Anmeldungen. Schließen Sie erst eine ab oder warten Sie.
error-bad-json = Die Anfrage ist kein gültiges JSON: { $detail }
error-unknown-body = Fehlerhafte Bestätigung: erwartet wird ein natives {"{"}public_key, signature{"}"} oder eine Tana-Bestätigung.
error-not-offered = Diese Anwendung nimmt keine Bestätigungen über { $detail } an.
error-unknown-channel = Auf diesem Kanal wartet keine Anmeldung.
error-body-too-large = Der Inhalt der Anfrage ist größer als { $bytes } Bytes.
error-not-permitted = { $user } darf sich nicht bei { $app } anmelden.
error-device-other-app = Dieses Gerät von { $user } wurde für eine andere Anwendung hinzugefügt, nicht für { $app }.
error-unknown-key = Dieser Schlüssel ist für { $app } nicht registriert.
error-identity-mismatch = Dieser Schlüssel gehört { $owner }, nicht { $asserted }.
error-cross-origin = Das geht nur von den eigenen Seiten der Anwendung aus.
error-unauthenticated = Sie sind nicht angemeldet.
error-rate-limited = Zu viele Anfragen von dieser Adresse; versuchen Sie es in { $wait } erneut.
error-other-key = Bestätigen Sie mit dem Schlüssel, mit dem Sie sich angemeldet haben.
error-other-user = Nur ein Schlüssel von { $user } kann das bestätigen.
error-same-device = Bestätigen Sie mit einem anderen Ihrer Schlüssel: Ein Gerät kann sein eigenes Entfernen nicht bestätigen.
error-no-other-key = Das Entfernen dieses Geräts braucht die Bestätigung eines anderen Ihrer Schlüssel, und Sie haben keinen. Bitten Sie Ihre Administration, es zu entfernen.
error-unknown-device = Kein solches Gerät von Ihnen.
error-other-network = Diese Anmeldung wurde aus einem anderen Netz angefragt. Bestätigen Sie sie mit einem Telefon im selben Netz wie der Computer, der den Code zeigt.
error-store = Das Gateway erreicht seinen Speicher gerade nicht. Versuchen Sie es gleich noch einmal.
error-internal = Das Gateway konnte diese Anmeldung nicht abschließen.

## Signaturen

error-bad-approval = Die Bestätigung ist nicht lesbar: { $detail }
error-bad-key = Der Schlüssel ist ungültig: { $detail }
error-bad-signature-encoding = Die Signatur ist falsch kodiert: { $detail }
error-wrong-challenge = Die signierte Nachricht gehört zu einer anderen Anmeldung.
error-inconsistent = userId/username stimmen zwischen Inhalt und signierter Nachricht nicht überein.
error-undecryptable = Die Bestätigung lässt sich mit dem Geheimnis dieser Anmeldung nicht entschlüsseln.
error-stale = Die Bestätigung ist zu alt oder aus der Zukunft: { $detail }
error-bad-signature = Die Signatur ist ungültig: { $detail }
error-bad-token = Das Token wurde abgelehnt: { $detail }.
error-wrong-capabilities = Das Token gewährt nicht, was diese Anmeldung verlangt.
error-replay = Dieses Token wurde schon einmal benutzt.

## Geräte und Einladungen

error-invitation-gone = Diese Einladung wurde benutzt oder ist abgelaufen. Bitten Sie um eine neue.
error-unknown-user = Es ist kein Benutzer namens { $detail } konfiguriert.
error-unknown-app = Es ist keine Anwendung namens { $detail } konfiguriert.
error-bad-query = { $detail }
error-bad-ttl = Eine Einladung gilt zwischen 1 Minute und 24 Stunden.
error-bad-enrollment = Fehlerhafte Einrichtung: { $detail }
error-key-taken = Dieser Schlüssel ist bereits eingerichtet.
error-not-configured-user = Nur konfigurierte Benutzer können Geräte hinzufügen.
error-under-review = Die Konfiguration hat { $detail } gerade geändert; die alten Geräte werden entfernt. Versuchen Sie es gleich noch einmal.
error-unknown-parameter = Unbekannter Parameter { $detail }: verwenden Sie id, user, key oder app.
error-repeated-parameter = Der Parameter { $detail } ist doppelt angegeben.
error-no-filter = Geben Sie an, welche Sitzungen: id, user, key oder app.

## Formulare der Seiten

form-sign-out-scope = Senden Sie id=<Sitzungs-ID>, token=<Token-ID>, scope=others oder scope=all.
form-logout-scope = Senden Sie kein Formular oder scope=everywhere.
form-invite = Senden Sie nichts oder confirm=<Anmelde-ID>.
form-remove-device = Senden Sie device=<Geräte-ID>.
form-unknown-user-code = Dieser Code ist unbekannt, benutzt oder abgelaufen. Prüfen Sie den Code, den das Programm zeigt, oder starten Sie dessen Anmeldung neu.
form-personal = Senden Sie name, app, access und days (und confirm=<Anmelde-ID>, sobald bestätigt).
form-personal-off = Persönliche Tokens brauchen den Anmeldeursprung des Gateways ([sso]) und seinen eingebauten Client.
form-personal-name = Geben Sie dem Token einen Namen mit 1 bis 64 Zeichen.
form-personal-app = Wählen Sie eine Anwendung, die Programme zulässt.
form-personal-access = Wählen Sie Lese- oder Lese-/Schreibzugriff.
form-personal-days = Wählen Sie, wie viele Tage das Token gilt, im vom Gateway erlaubten Rahmen.

## Single Sign-on und OpenID Connect

error-no-provider = Hier ist kein OpenID-Connect-Anbieter konfiguriert.
error-missing-client = Die Anwendung hat nicht gesagt, wer sie ist (client_id). Gehen Sie zu ihr zurück und versuchen Sie es erneut.
error-unknown-client = Diese Anwendung ist bei diesem Anmeldedienst nicht registriert.
error-bad-redirect-uri = Die Anwendung will an einer Adresse antworten lassen, die sie nicht registriert hat; diese Anmeldung schickt Sie deshalb nicht dorthin.
error-client-not-allowed = Ihr Konto darf diese Anwendung nicht nutzen.
error-logout-repeated = Ein Parameter ist mehrfach angegeben.
error-logout-unknown-hint = Der id_token_hint stammt nicht von diesem Anbieter.
error-logout-client-mismatch = client_id passt nicht zum id_token_hint.
error-sso-no-app = Über diesen Ursprung meldet sich keine Anwendung an.
error-sso-no-binding = Die Anfrage nennt keine Browserbindung.
error-sso-not-allowed = Sie sind bei { $gateway } angemeldet, aber Ihr Konto darf { $app } nicht nutzen. Bitten Sie dessen Administration um Zugang.
error-sso-code-spent = Der Anmeldecode wurde benutzt oder ist abgelaufen. Öffnen Sie die Anwendung erneut, um sich anzumelden.
error-sso-code-other-app = Der Anmeldecode wurde für eine andere Anwendung ausgestellt. Öffnen Sie die Anwendung erneut, um sich anzumelden.
error-sso-code-other-browser = Der Anmeldecode wurde für einen anderen Browser oder eine andere Anmeldung ausgestellt. Öffnen Sie die Anwendung erneut, um sich anzumelden.
error-sso-cross-origin = Die Anmeldung muss auf der eigenen Seite der Anwendung abgeschlossen werden.
form-personal-name-hidden = Der Name eines Tokens darf keine Steuer-, Format- oder unsichtbaren Zeichen enthalten (etwa Bidi-Steuerzeichen oder Leerzeichen ohne Breite).
form-personal-too-many = Sie haben so viele persönliche Tokens, wie eine Person haben darf: Widerrufen Sie zuerst eines.
title-too-many-codes = Zu viele falsche Codes
error-too-many-codes = Hier wurden zuletzt zu viele falsche Codes eingegeben, daher wird eine Weile kein Code geprüft. Warten Sie einige Minuten und geben Sie dann den Code ein, den das Programm anzeigt.
title-too-many-requests = Zu viele Anfragen
error-token-rate-limited = Dieses Token hat zu viele Anfragen gestellt; versuchen Sie es in { $wait } erneut.
