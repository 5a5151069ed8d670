# Ce que dit la passerelle quand elle refuse, en français : pages d'erreur (titre et texte)
# et `message` des réponses JSON que les pages affichent. $detail est un détail technique en
# anglais ; placez-le où il se lit bien, ou omettez-le.

## Titres des pages d'erreur

title-something-went-wrong = Une erreur s'est produite
title-sign-in-not-complete = Connexion non aboutie
title-not-found = Introuvable
title-bad-request = Requête invalide
title-outside-grant = Non autorisé avec cette connexion
title-confirm-it-is-you = Confirmez que c'est bien vous
title-sign-in-unavailable = Connexion indisponible
title-temporarily-unavailable = Temporairement indisponible
title-invitation-gone = Invitation plus valable
title-device-not-added = Appareil non ajouté
title-upstream-unavailable = L'application ne répond pas
title-upstream-timeout = L'application a mis trop de temps
title-body-too-slow = La requête est arrivée trop lentement
title-request-incomplete = Demande de connexion incomplète
title-unknown-application = Application inconnue
title-sign-in-request-refused = Demande de connexion refusée
title-not-allowed = Non autorisé
title-sign-out-refused = Demande de déconnexion refusée
title-sign-in-link-not-valid = Lien de connexion non valable
title-sign-in-refused = Connexion refusée
title-nothing-to-sign-out = Rien à déconnecter
title-nothing-to-do = Rien à faire
title-unknown-code = Code inconnu

## Requêtes et pages

error-unknown-host = Aucune application n'est servie à cette adresse.
error-bad-path = L'adresse n'est pas valable : { $detail }.
error-outside-grant = Votre connexion a reçu ici un accès « { $access } », qui ne permet pas cette requête.
error-step-up-required = Confirmez que c'est bien vous sur votre téléphone, puis réessayez.
error-step-up-page = Il faut une nouvelle confirmation de votre téléphone : ouvrez { $location }, confirmez, puis réessayez.
error-invalid-bearer = Le jeton porteur est inconnu, expiré, révoqué ou pas pour cette application.
error-sign-in-first = Connectez-vous d'abord.
error-sessions-unavailable = Les sessions ne peuvent pas être vérifiées pour l'instant. Réessayez dans un moment.
error-upstream-unavailable = La passerelle n'a pas pu joindre l'application. Réessayez dans un moment.
error-upstream-timeout = L'application n'a pas répondu à temps. Réessayez dans un moment.
error-bad-request = La requête n'a pas pu être comprise.
error-body-too-slow = Le corps de la requête s'est bloqué ou est arrivé sous le débit minimal de la passerelle. Renvoyez-le.
error-gateway = La passerelle n'a pas pu traiter cette requête.
error-no-endpoint = Ce point d'accès de la passerelle n'existe pas.
error-assertions-off = Les assertions d'identité ne sont pas activées.
error-method-not-allowed = Ce point d'accès n'accepte pas cette méthode.
error-page-failed = La page n'a pas pu être affichée.

## Connexion

error-attempt-unknown = Cette connexion est inconnue. Rechargez la page pour recommencer.
error-attempt-expired = Cette connexion a expiré. Rechargez la page pour recommencer.
error-attempt-done = Cette connexion a déjà été finalisée ou refusée.
error-attempt-not-approved = Cette connexion n'a pas encore été confirmée.
error-attempt-other-browser = Cette connexion a été commencée dans un autre navigateur.
error-attempt-other-purpose = Cette confirmation a été donnée pour autre chose.
error-attempts-full = Trop de connexions sont en cours. Réessayez bientôt.
error-attempts-client-busy = Trop de connexions sont en cours depuis cette adresse. Terminez-en une ou patientez.
error-bad-json = La requête n'est pas du JSON valable : { $detail }
error-unknown-body = Confirmation mal formée : attendu un {"{"}public_key, signature{"}"} natif ou une confirmation Tana.
error-not-offered = Cette application n'accepte pas les confirmations { $detail }.
error-unknown-channel = Aucune connexion n'attend sur ce canal.
error-body-too-large = Le corps de la requête dépasse { $bytes } octets.
error-not-permitted = { $user } ne peut pas se connecter à { $app }.
error-device-other-app = Cet appareil de { $user } a été ajouté pour une autre application, pas { $app }.
error-unknown-key = Cette clé n'est pas enregistrée pour { $app }.
error-identity-mismatch = Cette clé appartient à { $owner }, pas à { $asserted }.
error-cross-origin = Cela se fait depuis les pages de l'application elle-même.
error-unauthenticated = Vous n'êtes pas connecté.
error-rate-limited = Trop de requêtes depuis cette adresse ; réessayez dans { $wait }.
error-other-key = Confirmez avec la clé utilisée pour vous connecter.
error-other-user = Seule une clé de { $user } peut confirmer ceci.
error-same-device = Confirmez avec une autre de vos clés : un appareil ne peut pas confirmer son propre retrait.
error-no-other-key = Retirer cet appareil demande la confirmation d'une autre de vos clés, et vous n'en avez pas. Demandez à votre administrateur de le retirer.
error-unknown-device = Aucun appareil de ce nom parmi les vôtres.
error-other-network = Cette connexion a été demandée depuis un autre réseau. Confirmez-la depuis un téléphone sur le même réseau que l'ordinateur qui affiche le code.
error-store = La passerelle ne joint pas son stockage pour l'instant. Réessayez dans un moment.
error-internal = La passerelle n'a pas pu finaliser cette connexion.

## Signatures

error-bad-approval = La confirmation est illisible : { $detail }
error-bad-key = La clé n'est pas valable : { $detail }
error-bad-signature-encoding = La signature est mal encodée : { $detail }
error-wrong-challenge = Le message signé concerne une autre connexion.
error-inconsistent = userId/username diffèrent entre le corps et le message signé.
error-undecryptable = La confirmation ne se déchiffre pas avec le secret de cette connexion.
error-stale = La confirmation est trop ancienne ou vient du futur : { $detail }
error-bad-signature = La signature n'est pas valide : { $detail }
error-bad-token = Le jeton a été refusé : { $detail }.
error-wrong-capabilities = Le jeton n'accorde pas ce que cette connexion demande.
error-replay = Ce jeton a déjà servi.

## Appareils et invitations

error-invitation-gone = Cette invitation a servi ou a expiré. Demandez-en une nouvelle.
error-unknown-user = Aucun utilisateur nommé { $detail } n'est configuré.
error-unknown-app = Aucune application nommée { $detail } n'est configurée.
error-bad-query = { $detail }
error-bad-ttl = Une invitation dure entre 1 minute et 24 heures.
error-bad-enrollment = Enregistrement mal formé : { $detail }
error-key-taken = Cette clé est déjà enregistrée.
error-not-configured-user = Seuls les utilisateurs configurés peuvent ajouter des appareils.
error-under-review = La configuration vient de modifier { $detail } ; ses anciens appareils sont en cours de retrait. Réessayez dans un moment.
error-unknown-parameter = Paramètre inconnu { $detail } : utilisez id, user, key ou app.
error-repeated-parameter = Le paramètre { $detail } est donné deux fois.
error-no-filter = Précisez quelles sessions : id, user, key ou app.

## Formulaires des pages

form-sign-out-scope = Envoyez id=<id de session>, token=<id de jeton>, scope=others ou scope=all.
form-logout-scope = N'envoyez aucun formulaire, ou scope=everywhere.
form-invite = N'envoyez rien, ou confirm=<id de tentative>.
form-remove-device = Envoyez device=<id d'appareil>.
form-unknown-user-code = Ce code est inconnu, a servi ou a expiré. Vérifiez le code qu'affiche le programme, ou relancez sa connexion.
form-personal = Envoyez name, app, access et days (et confirm=<id de tentative> une fois confirmé).
form-personal-off = Les jetons personnels demandent l'origine de connexion de la passerelle ([sso]) et son client intégré.
form-personal-name = Donnez au jeton un nom de 1 à 64 caractères.
form-personal-app = Choisissez une application qui accepte les programmes.
form-personal-access = Choisissez un accès en lecture ou en lecture et écriture.
form-personal-days = Choisissez combien de jours dure le jeton, dans la limite permise par la passerelle.

## Authentification unique et OpenID Connect

error-no-provider = Aucun fournisseur OpenID Connect n'est configuré ici.
error-missing-client = L'application n'a pas dit qui elle est (client_id). Retournez-y et réessayez.
error-unknown-client = Cette application n'est pas enregistrée auprès de ce service de connexion.
error-bad-redirect-uri = L'application demande une réponse à une adresse qu'elle n'a pas enregistrée ; cette connexion ne vous y enverra donc pas.
error-client-not-allowed = Votre compte ne peut pas utiliser cette application.
error-logout-repeated = Un paramètre est donné plusieurs fois.
error-logout-unknown-hint = Le id_token_hint n'a pas été émis par ce fournisseur.
error-logout-client-mismatch = client_id ne correspond pas au id_token_hint.
error-sso-no-app = Aucune application ne se connecte par cette origine.
error-sso-no-binding = La demande ne nomme aucun lien de navigateur.
error-sso-not-allowed = Vous êtes connecté à { $gateway }, mais votre compte ne peut pas utiliser { $app }. Demandez l'accès à son administrateur.
error-sso-code-spent = Le code de connexion a servi ou a expiré. Rouvrez l'application pour vous connecter.
error-sso-code-other-app = Le code de connexion a été émis pour une autre application. Rouvrez l'application pour vous connecter.
error-sso-code-other-browser = Le code de connexion a été émis pour un autre navigateur ou une autre connexion. Rouvrez l'application pour vous connecter.
error-sso-cross-origin = La connexion doit se terminer depuis la page de l'application elle-même.
form-personal-name-hidden = Le nom d'un jeton ne peut contenir aucun caractère de contrôle, de format ou invisible (comme les contrôles bidi ou les espaces sans largeur).
form-personal-too-many = Vous détenez autant de jetons personnels qu'une personne le peut : révoquez-en un d'abord.
title-too-many-codes = Trop de codes erronés
error-too-many-codes = Trop de codes erronés ont été saisis ici récemment ; aucun code n'est vérifié pendant un moment. Attendez quelques minutes, puis saisissez le code affiché par le programme.
title-too-many-requests = Trop de requêtes
error-token-rate-limited = Ce jeton a fait trop de requêtes ; réessayez dans { $wait }.
