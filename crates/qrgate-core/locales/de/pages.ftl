# Die Seiten von qrgate auf Deutsch. Platzhalter ({ $name }) füllt das Gateway; sie bleiben,
# ihre Reihenfolge ist frei.

## Datum und Dauer

date-time = { $day }. { $month ->
        [1] Jan.
        [2] Feb.
        [3] März
        [4] Apr.
        [5] Mai
        [6] Juni
        [7] Juli
        [8] Aug.
        [9] Sept.
        [10] Okt.
        [11] Nov.
       *[12] Dez.
    } { $year }, { $time } UTC
date-unknown = unbekannt
duration-seconds = { $n ->
        [one] { $n } Sekunde
       *[other] { $n } Sekunden
    }
duration-minutes = { $n ->
        [one] { $n } Minute
       *[other] { $n } Minuten
    }
duration-hours = { $n ->
        [one] { $n } Stunde
       *[other] { $n } Stunden
    }
duration-days = { $n ->
        [one] { $n } Tag
       *[other] { $n } Tage
    }

## Die Anmeldeseite

login-title = Bei { $app } anmelden
login-title-device = Ein Programm zulassen — { $app }
login-title-action = Mit dem Telefon bestätigen — { $app }
login-title-step-up = Bestätigen Sie, dass Sie es sind — { $app }
login-heading = Bei { $app } anmelden
login-hint = Scannen Sie den Code mit Ihrer Signatur-App und bestätigen Sie auf dem Telefon. Kein Passwort, und Ihr Schlüssel verlässt das Telefon nie.
login-device-heading = Ein Programm zulassen
login-device-hint = Vergleichen Sie den Code mit dem, den das Programm zeigt. Stimmt er, scannen Sie den QR-Code mit Ihrer Signatur-App und bestätigen dort; sonst lehnen Sie auf dem Telefon ab.
login-action-heading = Mit dem Telefon bestätigen: { $action }
login-action-hint = Scannen Sie den Code mit einem Telefon, das schon einen Ihrer Schlüssel hat, und bestätigen Sie dort; das Telefon zeigt, was es bestätigt. Bis dahin ändert sich nichts.
login-step-up-heading = Bestätigen Sie, dass Sie es sind
login-step-up-hint = Dieser Teil von { $app } braucht eine frische Bestätigung. Scannen Sie den Code mit dem Telefon, mit dem Sie sich angemeldet haben, und bestätigen Sie dort; dann geht es weiter, wo Sie waren.
login-noscript = Nach der Bestätigung auf dem Telefon geht es hier weiter:
login-continue = Weiter
login-this-device-sign-in = Mit diesem Gerät anmelden
login-this-device-confirm = Mit diesem Gerät bestätigen
login-this-device-hint = Dieser Browser hat einen Schlüssel für { $user }. Oder scannen Sie den Code mit einem anderen Telefon:
login-signing-app = Signatur-App
login-qr-label = QR-Code zur Anmeldung mit { $app }
login-open-app = { $app } auf diesem Gerät öffnen
login-copy = Code kopieren
login-copied = Kopiert
login-code-as-text = Anmeldecode als Text
login-expires-in = Dieser Code läuft in { $seconds } s ab.

## Was die Anmeldeseite beim Warten sagt

status-waiting = Warten auf Ihr Telefon …
status-scanned = Code gescannt — bestätigen Sie auf dem Telefon.
status-approved-device = Zugelassen. Das Programm macht selbst weiter; Sie können diese Seite schließen.
status-claim-failed = Die Anmeldung konnte nicht abgeschlossen werden.
status-claim-failed-reload = Die Anmeldung konnte nicht abgeschlossen werden. Laden Sie die Seite neu, um es erneut zu versuchen.
status-confirmed-by = Bestätigt von { $name }.
status-signed-in-as = Angemeldet als { $name }.
status-declined = Die Anmeldung wurde auf dem Telefon abgelehnt.
status-lost = Die Verbindung zum Anmeldedienst ist abgebrochen. Laden Sie die Seite neu, um es erneut zu versuchen.
status-reconnecting = Verbindung wird wiederhergestellt …

## Die Bestätigungsseite (Browser eines Telefons)

approve-title = Anmeldung bei { $app } bestätigen
approve-title-action = Eine Änderung an Ihrem Konto bestätigen
approve-heading = Bei { $app } anmelden?
approve-hint = Ein Computer möchte sich mit Ihrem Schlüssel anmelden. Bestätigen Sie nur, wenn er vor Ihnen steht.
approve-step-up-heading = Bestätigen Sie, dass Sie es sind
approve-action-heading = Bestätigen: { $action }?
approve-not-sign-in = Dies ist keine Anmeldung.
approve-action-hint = Ein als Sie angemeldeter Computer bittet darum: { $action }. Bestätigen Sie nur, wenn Sie das selbst veranlasst haben, am Computer vor Ihnen.
approve-app = Anwendung
approve-address = Adresse
approve-asked-by = Angefragt von
approve-from = Von
approve-at = Um
approve-access = Zugriff
approve-action = Aktion
approve-signing-in-as = Anmeldung als
approve-confirming-as = Bestätigung als
approve-approve = Bestätigen
approve-decline = Ablehnen
approve-no-key = Dieses Telefon hat keinen Schlüssel für { $origin }.
approve-no-key-hint = Um sich mit dem Browser dieses Telefons anzumelden, muss es zuerst hinzugefügt werden: Bitten Sie Ihre Administration um einen Einladungslink, oder öffnen Sie die Sitzungsseite auf einem Computer, an dem Sie angemeldet sind, und wählen Sie „Telefon hinzufügen“. Öffnen Sie den Link hier auf diesem Telefon und scannen Sie dann den Anmeldecode erneut.
approve-unsupported = Dieser Browser kann Sie nicht anmelden.
approve-unsupported-hint = Er braucht Ed25519 in WebCrypto auf einer HTTPS-Adresse. Aktuelles Chrome (ab 137), Safari (ab 17) und Firefox (ab 129) können das; oder nutzen Sie Pubky Ring oder tana-mobile.
status-approving = Wird bestätigt …
status-confirmed-go-back = Bestätigt — gehen Sie zurück an Ihren Computer.
status-done-go-back = Fertig — gehen Sie zurück an Ihren Computer.
status-declined-nothing-changed = Abgelehnt. Es wurde nichts geändert.
status-declined-nobody = Abgelehnt. Niemand wurde angemeldet.

## Dieser Browser als Signaturgerät

device-unenrolled = Dieses Gerät ist nicht mehr eingerichtet. Bitten Sie um eine neue Einladung.
device-refused = Das Gateway hat abgelehnt ({ $status }).
device-other-site = Diese Anmeldung ist nicht für diese Website; es wurde nichts signiert.
device-other-action = Diese Bestätigung ist nicht das, was diese Seite zeigt; es wurde nichts signiert.

## Ein Telefon hinzufügen

enroll-title = Dieses Telefon hinzufügen — { $app }
enroll-heading = Dieses Telefon hinzufügen
enroll-intro = Mit dieser Einladung meldet sich dieses Telefon bei { $app } ({ $origin }) als { $user } an.
enroll-hint = Das Telefon erzeugt einen Schlüssel, der diesen Browser nie verlässt. Danach scannen Sie einen Anmeldecode mit der Kamera und bestätigen hier. Die Einladung gilt einmal und läuft am { $expires } ab.
enroll-replaces = Dieser Browser meldet sich bereits als { $user } an; erneutes Hinzufügen ersetzt diesen Schlüssel.
enroll-other-user = Ja: Ab jetzt meldet sich dieses Telefon als { $user } an, nicht als { $current }.
enroll-button = Dieses Telefon hinzufügen
enroll-unsupported = Dieser Browser kann keinen Signaturschlüssel aufbewahren.
enroll-unsupported-hint = Er braucht Ed25519 in WebCrypto auf einer HTTPS-Adresse. Aktuelles Chrome (ab 137), Safari (ab 17) und Firefox (ab 129) können das. Öffnen Sie den Link in einem davon; die Einladung ist noch unbenutzt.
status-adding = Telefon wird hinzugefügt …
status-add-failed = Dieses Telefon konnte nicht hinzugefügt werden.
status-add-failed-because = Dieses Telefon konnte nicht hinzugefügt werden: { $reason }
status-added = Dieses Telefon meldet sich jetzt als { $user } an. Scannen Sie einen Anmeldecode mit der Kamera, um es zu nutzen.
invite-title = Telefon hinzufügen — { $app }
invite-heading = Telefon hinzufügen
invite-intro = Scannen Sie diesen Code mit der Kamera des Telefons, das Sie hinzufügen möchten. Es meldet sich bei { $app } als { $user } an.
invite-qr-label = QR-Code des Einladungslinks
invite-link-label = Einladungslink (gilt einmal, bis { $expires })
invite-warning = Wer diesen Link hat, kann Ihrem Konto ein Telefon hinzufügen, bis er benutzt ist: Geben Sie ihn nicht weiter.
invite-back = Zurück zu Ihren Sitzungen

## Die Sitzungsseite

sessions-title = Ihre Sitzungen — { $app }
sessions-signed-in-as = Angemeldet als { $user }
sessions-key-hint = Sie sind hier mit dem Schlüssel { $key }… angemeldet.
sessions-keys = Ihre Schlüssel
sessions-signed-in-here = hier angemeldet
sessions-key-line = { $app } · eingerichtet: { $enrolled } · zuletzt benutzt: { $last_used }
sessions-configured-key = Schlüssel aus der Konfiguration des Gateways
sessions-every-app = jede Anwendung, die Sie nutzen dürfen
sessions-by-administrator = durch Ihre Administration
sessions-no-live-session = keine aktive Sitzung
sessions-remove-device = Dieses Gerät entfernen
sessions-removable-hint = Das Entfernen eines Geräts beendet überall seine Sitzungen; ein anderer Ihrer Schlüssel muss es auf einem Telefon bestätigen.
sessions-single-key-hint = Mit nur einem Schlüssel können Sie ihn hier nicht entfernen: Ein anderer Ihrer Schlüssel muss das Entfernen bestätigen. Wenden Sie sich an Ihre Administration.
sessions-heading = Ihre Sitzungen
sessions-count = { $n ->
        [one] Eine Sitzung.
       *[other] { $n } Sitzungen.
    }
sessions-hint = Jede Ihrer Sitzungen auf diesem Gateway, egal mit welchem Ihrer Schlüssel angemeldet. Melden Sie alle ab, die Sie nicht kennen.
sessions-this-browser = dieser Browser
sessions-since = seit { $since } · zuletzt gesehen { $last_seen }
sessions-sign-out-one = Diese Sitzung abmelden
sessions-programs = Programme und Skripte
sessions-programs-hint = Tokens, die Ihr Telefon für Programme zugelassen hat. Ein widerrufenes Token wirkt sofort und überall nicht mehr.
sessions-token-line = { $grant } · von { $from } · seit { $since } · bis { $until }
sessions-token-used-from = zuletzt benutzt { $when } von { $from }
sessions-token-used = zuletzt benutzt { $when }
sessions-token-unused = noch nicht benutzt
sessions-personal-token-name = „{ $name }“ (persönliches Token)
sessions-revoke = Widerrufen
sessions-personal-heading = Ein persönliches Token erstellen
sessions-personal-hint = Für eine Aufgabe, die ohne Sie läuft: Ihr Telefon bestätigt es jetzt, und es wird einmal angezeigt.
sessions-personal-name = Name
sessions-personal-app = Anwendung
sessions-personal-access = Zugriff
sessions-access-read = lesen
sessions-access-read-write = lesen und schreiben
sessions-personal-days = Tage
sessions-personal-make = Token erstellen
sessions-sign-out-others = Alle anderen Sitzungen abmelden
sessions-sign-out-all = Überall abmelden
sessions-add-phone = Telefon hinzufügen
sessions-add-phone-hint = Anmelden mit Kamera und Browser eines Telefons, ohne App: Bestätigen Sie auf einem Telefon, das schon einen Ihrer Schlüssel hat, und öffnen Sie dann die einmalige Einladung auf dem neuen Telefon.

## Ein persönliches Token, einmal angezeigt

shown-token-title = Ihr persönliches Token
shown-token-heading = Persönliches Token „{ $name }“
shown-token-what = Zugriff „{ $access }“ auf { $app } bis { $until }. Kopieren Sie es jetzt: Es wird nicht noch einmal angezeigt.
shown-token-usage = Senden Sie es als
shown-token-back = Auf Ihrer Sitzungsseite widerrufen

## Kleinere Seiten

sso-signing-in = Anmeldung bei { $app } …
logout-title = Von { $app } abmelden
logout-heading = Von { $app } abmelden?
logout-button = Abmelden
signed-out-title = Von { $app } abgemeldet
signed-out-heading = Abgemeldet
signed-out-text = Sie sind von { $app } abgemeldet.
device-code-title = Ein Programm zulassen — { $gateway }
device-code-hint = Geben Sie den Code ein, den das Programm zeigt.
device-code-label = Code
sessions-everywhere-ends-tokens = „Überall abmelden“ beendet auch jedes Token von Programmen und Skripten, das Sie besitzen, persönliche Tokens eingeschlossen: Die Aufgaben, die sie verwenden, stoppen. „Alle anderen Sitzungen abmelden“ lässt sie bestehen.
