# Las páginas de qrgate en español. La pasarela rellena los marcadores ({ $name });
# consérvelos, en el orden que mejor se lea.

## Fechas y duraciones

date-time = { $day } { $month ->
        [1] ene
        [2] feb
        [3] mar
        [4] abr
        [5] may
        [6] jun
        [7] jul
        [8] ago
        [9] sept
        [10] oct
        [11] nov
       *[12] dic
    } { $year }, { $time } UTC
date-unknown = desconocida
duration-seconds = { $n ->
        [one] { $n } segundo
       *[other] { $n } segundos
    }
duration-minutes = { $n ->
        [one] { $n } minuto
       *[other] { $n } minutos
    }
duration-hours = { $n ->
        [one] { $n } hora
       *[other] { $n } horas
    }
duration-days = { $n ->
        [one] { $n } día
       *[other] { $n } días
    }

## La página de inicio de sesión

login-title = Iniciar sesión en { $app }
login-title-device = Autorizar un programa — { $app }
login-title-action = Confirmar con el teléfono — { $app }
login-title-step-up = Confirme que es usted — { $app }
login-heading = Iniciar sesión en { $app }
login-hint = Escanee el código con su aplicación de firma y confirme en el teléfono. Sin contraseña, y su clave nunca sale del teléfono.
login-device-heading = Autorizar un programa
login-device-hint = Compare el código con el que muestra el programa. Si es el suyo, escanee el código QR con su aplicación de firma y autorícelo allí; si no, rechácelo en el teléfono.
login-action-heading = Confirmar con el teléfono: { $action }
login-action-hint = Escanee el código con un teléfono que ya tenga una de sus claves y confirme allí; el teléfono muestra lo que confirma. Nada cambia hasta entonces.
login-step-up-heading = Confirme que es usted
login-step-up-hint = Esta parte de { $app } necesita una confirmación reciente. Escanee el código con el teléfono con el que inició sesión y confirme allí; después seguirá donde estaba.
login-noscript = Después de confirmar en el teléfono, continúe aquí:
login-continue = Continuar
login-this-device-sign-in = Iniciar sesión con este dispositivo
login-this-device-confirm = Confirmar con este dispositivo
login-this-device-hint = Este navegador guarda una clave de { $user }. O escanee el código con otro teléfono:
login-signing-app = Aplicación de firma
login-qr-label = Código QR para iniciar sesión con { $app }
login-open-app = Abrir { $app } en este dispositivo
login-copy = Copiar código
login-copied = Copiado
login-code-as-text = Código de inicio de sesión como texto
login-expires-in = Este código caduca en { $seconds } s.

## Lo que dice la página mientras espera

status-waiting = Esperando a su teléfono…
status-scanned = Código escaneado: confirme en el teléfono.
status-approved-device = Autorizado. El programa continúa por sí solo; puede cerrar esta página.
status-claim-failed = No se pudo completar el inicio de sesión.
status-claim-failed-reload = No se pudo completar el inicio de sesión. Recargue la página para intentarlo de nuevo.
status-confirmed-by = Confirmado por { $name }.
status-signed-in-as = Sesión iniciada como { $name }.
status-declined = El inicio de sesión se rechazó en el teléfono.
status-lost = Se perdió el contacto con el servicio de inicio de sesión. Recargue la página para intentarlo de nuevo.
status-reconnecting = Reconectando…

## La página de confirmación (navegador de un teléfono)

approve-title = Autorizar el inicio de sesión en { $app }
approve-title-action = Confirmar un cambio en su cuenta
approve-heading = ¿Iniciar sesión en { $app }?
approve-hint = Un ordenador pide iniciar sesión con su clave. Confirme solo si lo tiene delante.
approve-step-up-heading = Confirme que es usted
approve-action-heading = ¿Confirmar: { $action }?
approve-not-sign-in = Esto no es un inicio de sesión.
approve-action-hint = Un ordenador con su sesión pide: { $action }. Confirme solo si lo pidió usted, en el ordenador que tiene delante.
approve-app = Aplicación
approve-address = Dirección
approve-asked-by = Pedido por
approve-from = Desde
approve-at = A las
approve-access = Acceso
approve-action = Acción
approve-signing-in-as = Inicia sesión como
approve-confirming-as = Confirma como
approve-approve = Confirmar
approve-decline = Rechazar
approve-no-key = Este teléfono no tiene clave para { $origin }.
approve-no-key-hint = Para iniciar sesión con el navegador de este teléfono, primero hay que añadirlo: pida un enlace de invitación a su administrador, o abra la página de sesiones en un ordenador donde tenga la sesión iniciada y elija «Añadir un teléfono». Abra el enlace aquí, en este teléfono, y vuelva a escanear el código.
approve-unsupported = Este navegador no puede iniciar sesión por usted.
approve-unsupported-hint = Necesita Ed25519 en WebCrypto en una dirección HTTPS. Las versiones actuales de Chrome (137 o posterior), Safari (17 o posterior) y Firefox (129 o posterior) lo tienen; o use Pubky Ring o tana-mobile.
status-approving = Confirmando…
status-confirmed-go-back = Confirmado: vuelva a su ordenador.
status-done-go-back = Hecho: vuelva a su ordenador.
status-declined-nothing-changed = Rechazado. No se cambió nada.
status-declined-nobody = Rechazado. No se inició ninguna sesión.

## Este navegador como firmante

device-unenrolled = Este dispositivo ya no está registrado. Pida una invitación nueva.
device-refused = La pasarela lo rechazó ({ $status }).
device-other-site = Este inicio de sesión no es para este sitio; no se firmó nada.
device-other-action = Esta confirmación no es lo que muestra esta página; no se firmó nada.

## Añadir un teléfono

enroll-title = Añadir este teléfono — { $app }
enroll-heading = Añadir este teléfono
enroll-intro = Esta invitación permite a este teléfono iniciar sesión en { $app } ({ $origin }) como { $user }.
enroll-hint = El teléfono crea una clave que nunca sale de este navegador. Después, escanee un código de inicio de sesión con la cámara y confirme aquí. La invitación sirve una vez y caduca el { $expires }.
enroll-replaces = Este navegador ya inicia sesión como { $user }; añadirlo de nuevo sustituye esa clave.
enroll-other-user = Sí: a partir de ahora este teléfono inicia sesión como { $user }, no como { $current }.
enroll-button = Añadir este teléfono
enroll-unsupported = Este navegador no puede guardar una clave de firma.
enroll-unsupported-hint = Necesita Ed25519 en WebCrypto en una dirección HTTPS. Las versiones actuales de Chrome (137 o posterior), Safari (17 o posterior) y Firefox (129 o posterior) lo tienen. Abra el enlace en uno de ellos; la invitación sigue sin usar.
status-adding = Añadiendo este teléfono…
status-add-failed = No se pudo añadir este teléfono.
status-add-failed-because = No se pudo añadir este teléfono: { $reason }
status-added = Este teléfono ya inicia sesión como { $user }. Escanee un código de inicio de sesión con la cámara para usarlo.
invite-title = Añadir un teléfono — { $app }
invite-heading = Añadir un teléfono
invite-intro = Escanee este código con la cámara del teléfono que quiere añadir. Iniciará sesión en { $app } como { $user }.
invite-qr-label = Código QR del enlace de invitación
invite-link-label = Enlace de invitación (sirve una vez, hasta el { $expires })
invite-warning = Cualquiera que tenga este enlace puede añadir un teléfono a su cuenta hasta que se use: no lo comparta.
invite-back = Volver a sus sesiones

## La página de sesiones

sessions-title = Sus sesiones — { $app }
sessions-signed-in-as = Sesión iniciada como { $user }
sessions-key-hint = Aquí ha iniciado sesión con la clave { $key }….
sessions-keys = Sus claves
sessions-signed-in-here = sesión iniciada aquí
sessions-key-line = { $app } · añadida: { $enrolled } · último uso: { $last_used }
sessions-configured-key = Clave de la configuración de la pasarela
sessions-every-app = todas las aplicaciones que puede usar
sessions-by-administrator = por su administrador
sessions-no-live-session = ninguna sesión activa
sessions-remove-device = Quitar este dispositivo
sessions-removable-hint = Quitar un dispositivo cierra sus sesiones en todas partes; otra de sus claves debe confirmarlo en un teléfono.
sessions-single-key-hint = Con una sola clave no puede quitarla aquí: otra de sus claves debe confirmar la eliminación. Consulte a su administrador.
sessions-heading = Sus sesiones
sessions-count = { $n ->
        [one] Una sesión.
       *[other] { $n } sesiones.
    }
sessions-hint = Todas sus sesiones en esta pasarela, con cualquiera de sus claves. Cierre las que no reconozca.
sessions-this-browser = este navegador
sessions-since = desde el { $since } · última actividad { $last_seen }
sessions-sign-out-one = Cerrar esta sesión
sessions-programs = Programas y scripts
sessions-programs-hint = Tokens que su teléfono autorizó para programas. Revocar uno lo detiene al instante, en todas partes.
sessions-token-line = { $grant } · desde { $from } · desde el { $since } · hasta el { $until }
sessions-token-used-from = usado por última vez el { $when } desde { $from }
sessions-token-used = usado por última vez el { $when }
sessions-token-unused = aún sin usar
sessions-personal-token-name = «{ $name }» (token personal)
sessions-revoke = Revocar
sessions-personal-heading = Crear un token personal
sessions-personal-hint = Para una tarea que funciona sin usted: su teléfono lo autoriza ahora y se muestra una sola vez.
sessions-personal-name = Nombre
sessions-personal-app = Aplicación
sessions-personal-access = Acceso
sessions-access-read = lectura
sessions-access-read-write = lectura y escritura
sessions-personal-days = Días
sessions-personal-make = Crear un token
sessions-sign-out-others = Cerrar todas las demás sesiones
sessions-sign-out-all = Cerrar sesión en todas partes
sessions-add-phone = Añadir un teléfono
sessions-add-phone-hint = Inicie sesión con la cámara y el navegador de un teléfono, sin aplicación: confirme en un teléfono que ya tenga una de sus claves y abra la invitación de un solo uso en el teléfono nuevo.

## Un token personal, mostrado una vez

shown-token-title = Su token personal
shown-token-heading = Token personal «{ $name }»
shown-token-what = Acceso de { $access } a { $app } hasta el { $until }. Cópielo ahora: no se volverá a mostrar.
shown-token-usage = Envíelo como
shown-token-back = Revocarlo en su página de sesiones

## Páginas más pequeñas

sso-signing-in = Iniciando sesión en { $app }…
logout-title = Cerrar sesión en { $app }
logout-heading = ¿Cerrar sesión en { $app }?
logout-button = Cerrar sesión
signed-out-title = Sesión cerrada en { $app }
signed-out-heading = Sesión cerrada
signed-out-text = Ha cerrado la sesión en { $app }.
device-code-title = Autorizar un programa — { $gateway }
device-code-hint = Escriba el código que muestra el programa.
device-code-label = Código
sessions-everywhere-ends-tokens = Cerrar sesión en todas partes también termina cada token de programas y scripts que tenga, tokens personales incluidos: las tareas que los usan se detienen. Cerrar todas las demás sesiones los deja.
