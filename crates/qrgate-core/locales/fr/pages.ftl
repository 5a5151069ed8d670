# Les pages de qrgate en français. Les paramètres ({ $name }) sont remplis par la passerelle ;
# gardez-les, dans l'ordre qui convient.

## Dates et durées

date-time = { $day } { $month ->
        [1] janv.
        [2] févr.
        [3] mars
        [4] avr.
        [5] mai
        [6] juin
        [7] juil.
        [8] août
        [9] sept.
        [10] oct.
        [11] nov.
       *[12] déc.
    } { $year }, { $time } UTC
date-unknown = inconnu
duration-seconds = { $n ->
        [one] { $n } seconde
       *[other] { $n } secondes
    }
duration-minutes = { $n ->
        [one] { $n } minute
       *[other] { $n } minutes
    }
duration-hours = { $n ->
        [one] { $n } heure
       *[other] { $n } heures
    }
duration-days = { $n ->
        [one] { $n } jour
       *[other] { $n } jours
    }

## La page de connexion

login-title = Se connecter à { $app }
login-title-device = Autoriser un programme — { $app }
login-title-action = Confirmer avec votre téléphone — { $app }
login-title-step-up = Confirmez que c'est bien vous — { $app }
login-heading = Se connecter à { $app }
login-hint = Scannez le code avec votre application de signature, puis confirmez sur votre téléphone. Pas de mot de passe, et votre clé ne quitte jamais votre téléphone.
login-device-heading = Autoriser un programme
login-device-hint = Comparez le code avec celui qu'affiche le programme. S'il est le vôtre, scannez le code QR avec votre application de signature et autorisez-le ; sinon, refusez sur le téléphone.
login-action-heading = Confirmer avec votre téléphone : { $action }
login-action-hint = Scannez le code avec un téléphone qui détient déjà une de vos clés et confirmez-y ; le téléphone montre ce qu'il confirme. Rien ne change avant.
login-step-up-heading = Confirmez que c'est bien vous
login-step-up-hint = Cette partie de { $app } demande une nouvelle confirmation. Scannez le code avec le téléphone utilisé pour vous connecter et confirmez ; vous reprendrez là où vous étiez.
login-noscript = Après avoir confirmé sur votre téléphone, continuez ici :
login-continue = Continuer
login-this-device-sign-in = Se connecter avec cet appareil
login-this-device-confirm = Confirmer avec cet appareil
login-this-device-hint = Ce navigateur détient une clé pour { $user }. Ou scannez le code avec un autre téléphone :
login-signing-app = Application de signature
login-qr-label = Code QR pour se connecter avec { $app }
login-open-app = Ouvrir { $app } sur cet appareil
login-copy = Copier le code
login-copied = Copié
login-code-as-text = Code de connexion en texte
login-expires-in = Ce code expire dans { $seconds } s.

## Ce que dit la page de connexion pendant l'attente

status-waiting = En attente de votre téléphone…
status-scanned = Code scanné — confirmez sur votre téléphone.
status-approved-device = Autorisé. Le programme continue seul ; vous pouvez fermer cette page.
status-claim-failed = La connexion n'a pas pu aboutir.
status-claim-failed-reload = La connexion n'a pas pu aboutir. Rechargez la page pour réessayer.
status-confirmed-by = Confirmé par { $name }.
status-signed-in-as = Connecté en tant que { $name }.
status-declined = La connexion a été refusée sur le téléphone.
status-lost = Le contact avec le service de connexion est perdu. Rechargez la page pour réessayer.
status-reconnecting = Reconnexion…

## La page de confirmation (navigateur d'un téléphone)

approve-title = Autoriser la connexion à { $app }
approve-title-action = Confirmer une modification de votre compte
approve-heading = Se connecter à { $app } ?
approve-hint = Un ordinateur demande à se connecter avec votre clé. Ne confirmez que s'il est devant vous.
approve-step-up-heading = Confirmez que c'est bien vous
approve-action-heading = Confirmer : { $action } ?
approve-not-sign-in = Ceci n'est pas une connexion.
approve-action-hint = Un ordinateur connecté en votre nom demande : { $action }. Ne confirmez que si vous l'avez demandé vous-même, sur l'ordinateur devant vous.
approve-app = Application
approve-address = Adresse
approve-asked-by = Demandé par
approve-from = Depuis
approve-at = À
approve-access = Accès
approve-action = Action
approve-signing-in-as = Connexion en tant que
approve-confirming-as = Confirmation en tant que
approve-approve = Confirmer
approve-decline = Refuser
approve-no-key = Ce téléphone n'a pas de clé pour { $origin }.
approve-no-key-hint = Pour vous connecter avec le navigateur de ce téléphone, il faut d'abord l'ajouter : demandez un lien d'invitation à votre administrateur, ou ouvrez la page des sessions sur un ordinateur où vous êtes connecté et choisissez « Ajouter un téléphone ». Ouvrez le lien ici, sur ce téléphone, puis scannez à nouveau le code de connexion.
approve-unsupported = Ce navigateur ne peut pas vous connecter.
approve-unsupported-hint = Il lui faut Ed25519 dans WebCrypto sur une adresse HTTPS. Les versions récentes de Chrome (137 ou plus), Safari (17 ou plus) et Firefox (129 ou plus) l'ont ; ou utilisez Pubky Ring ou tana-mobile.
status-approving = Confirmation…
status-confirmed-go-back = Confirmé — retournez à votre ordinateur.
status-done-go-back = C'est fait — retournez à votre ordinateur.
status-declined-nothing-changed = Refusé. Rien n'a été modifié.
status-declined-nobody = Refusé. Personne n'a été connecté.

## Ce navigateur comme appareil de signature

device-unenrolled = Cet appareil n'est plus enregistré. Demandez une nouvelle invitation.
device-refused = La passerelle a refusé ({ $status }).
device-other-site = Cette connexion n'est pas pour ce site ; rien n'a été signé.
device-other-action = Cette confirmation n'est pas ce que montre cette page ; rien n'a été signé.

## Ajouter un téléphone

enroll-title = Ajouter ce téléphone — { $app }
enroll-heading = Ajouter ce téléphone
enroll-intro = Cette invitation permet à ce téléphone de se connecter à { $app } ({ $origin }) en tant que { $user }.
enroll-hint = Le téléphone crée une clé qui ne quitte jamais ce navigateur. Ensuite, scannez un code de connexion avec l'appareil photo et confirmez ici. L'invitation ne sert qu'une fois et expire le { $expires }.
enroll-replaces = Ce navigateur se connecte déjà en tant que { $user } ; l'ajouter à nouveau remplace cette clé.
enroll-other-user = Oui : désormais ce téléphone se connecte en tant que { $user }, et non plus { $current }.
enroll-button = Ajouter ce téléphone
enroll-unsupported = Ce navigateur ne peut pas garder de clé de signature.
enroll-unsupported-hint = Il lui faut Ed25519 dans WebCrypto sur une adresse HTTPS. Les versions récentes de Chrome (137 ou plus), Safari (17 ou plus) et Firefox (129 ou plus) l'ont. Ouvrez le lien dans l'un d'eux ; l'invitation n'a pas encore servi.
status-adding = Ajout de ce téléphone…
status-add-failed = Ce téléphone n'a pas pu être ajouté.
status-add-failed-because = Ce téléphone n'a pas pu être ajouté : { $reason }
status-added = Ce téléphone se connecte maintenant en tant que { $user }. Scannez un code de connexion avec l'appareil photo pour l'utiliser.
invite-title = Ajouter un téléphone — { $app }
invite-heading = Ajouter un téléphone
invite-intro = Scannez ce code avec l'appareil photo du téléphone à ajouter. Il se connectera à { $app } en tant que { $user }.
invite-qr-label = Code QR du lien d'invitation
invite-link-label = Lien d'invitation (une seule fois, jusqu'au { $expires })
invite-warning = Toute personne ayant ce lien peut ajouter un téléphone à votre compte tant qu'il n'a pas servi : ne le partagez pas.
invite-back = Retour à vos sessions

## La page des sessions

sessions-title = Vos sessions — { $app }
sessions-signed-in-as = Connecté en tant que { $user }
sessions-key-hint = Vous êtes connecté ici avec la clé { $key }….
sessions-keys = Vos clés
sessions-signed-in-here = connecté ici
sessions-key-line = { $app } · ajoutée : { $enrolled } · dernière utilisation : { $last_used }
sessions-configured-key = Clé de la configuration de la passerelle
sessions-every-app = toutes les applications autorisées
sessions-by-administrator = par votre administrateur
sessions-no-live-session = aucune session active
sessions-remove-device = Retirer cet appareil
sessions-removable-hint = Retirer un appareil met fin à ses sessions partout ; une autre de vos clés doit le confirmer sur un téléphone.
sessions-single-key-hint = Avec une seule clé, vous ne pouvez pas la retirer ici : une autre de vos clés doit confirmer le retrait. Adressez-vous à votre administrateur.
sessions-heading = Vos sessions
sessions-count = { $n ->
        [one] { $n } session.
       *[other] { $n } sessions.
    }
sessions-hint = Toutes vos sessions sur cette passerelle, quelle que soit la clé utilisée. Déconnectez celles que vous ne reconnaissez pas.
sessions-this-browser = ce navigateur
sessions-since = depuis le { $since } · vue le { $last_seen }
sessions-sign-out-one = Déconnecter cette session
sessions-programs = Programmes et scripts
sessions-programs-hint = Jetons que votre téléphone a autorisés pour des programmes. En révoquer un l'arrête aussitôt, partout.
sessions-token-line = { $grant } · depuis { $from } · depuis le { $since } · jusqu'au { $until }
sessions-token-used-from = dernière utilisation le { $when } depuis { $from }
sessions-token-used = dernière utilisation le { $when }
sessions-token-unused = pas encore utilisé
sessions-personal-token-name = « { $name } » (jeton personnel)
sessions-revoke = Révoquer
sessions-personal-heading = Créer un jeton personnel
sessions-personal-hint = Pour une tâche qui tourne sans vous : votre téléphone l'autorise maintenant, et il n'est affiché qu'une fois.
sessions-personal-name = Nom
sessions-personal-app = Application
sessions-personal-access = Accès
sessions-access-read = lecture
sessions-access-read-write = lecture et écriture
sessions-personal-days = Jours
sessions-personal-make = Créer un jeton
sessions-sign-out-others = Déconnecter toutes les autres sessions
sessions-sign-out-all = Se déconnecter partout
sessions-add-phone = Ajouter un téléphone
sessions-add-phone-hint = Connectez-vous avec l'appareil photo et le navigateur d'un téléphone, sans application : confirmez sur un téléphone qui détient déjà une de vos clés, puis ouvrez l'invitation à usage unique sur le nouveau téléphone.

## Un jeton personnel, affiché une fois

shown-token-title = Votre jeton personnel
shown-token-heading = Jeton personnel « { $name } »
shown-token-what = Accès « { $access } » à { $app } jusqu'au { $until }. Copiez-le maintenant : il ne sera plus affiché.
shown-token-usage = Envoyez-le ainsi :
shown-token-back = Le révoquer sur votre page de sessions

## Pages plus petites

sso-signing-in = Connexion à { $app }…
logout-title = Se déconnecter de { $app }
logout-heading = Se déconnecter de { $app } ?
logout-button = Se déconnecter
signed-out-title = Déconnecté de { $app }
signed-out-heading = Déconnecté
signed-out-text = Vous êtes déconnecté de { $app }.
device-code-title = Autoriser un programme — { $gateway }
device-code-hint = Saisissez le code qu'affiche le programme.
device-code-label = Code
sessions-everywhere-ends-tokens = Se déconnecter partout met aussi fin à chaque jeton de programme ou de script que vous détenez, jetons personnels compris : les tâches qui les utilisent s'arrêtent. Déconnecter toutes les autres sessions les laisse.
