# Lo que dice la pasarela cuando rechaza algo, en español: páginas de error (título y texto)
# y el `message` de las respuestas JSON que muestran las páginas. $detail es un detalle
# técnico en inglés; colóquelo donde se lea bien, u omítalo.

## Títulos de las páginas de error

title-something-went-wrong = Algo salió mal
title-sign-in-not-complete = Inicio de sesión no completado
title-not-found = No encontrado
title-bad-request = Solicitud no válida
title-outside-grant = No permitido con este inicio de sesión
title-confirm-it-is-you = Confirme que es usted
title-sign-in-unavailable = Inicio de sesión no disponible
title-temporarily-unavailable = No disponible temporalmente
title-invitation-gone = La invitación ya no es válida
title-device-not-added = Dispositivo no añadido
title-upstream-unavailable = La aplicación no responde
title-upstream-timeout = La aplicación tardó demasiado
title-body-too-slow = La solicitud llegó demasiado despacio
title-request-incomplete = Solicitud de inicio de sesión incompleta
title-unknown-application = Aplicación desconocida
title-sign-in-request-refused = Solicitud de inicio de sesión rechazada
title-not-allowed = No permitido
title-sign-out-refused = Solicitud de cierre de sesión rechazada
title-sign-in-link-not-valid = Enlace de inicio de sesión no válido
title-sign-in-refused = Inicio de sesión rechazado
title-nothing-to-sign-out = Nada que cerrar
title-nothing-to-do = Nada que hacer
title-unknown-code = Código desconocido

## Solicitudes y páginas

error-unknown-host = No se sirve ninguna aplicación en esta dirección.
error-bad-path = La dirección no es válida: { $detail }.
error-outside-grant = Su inicio de sesión tiene aquí acceso de { $access }, que no permite esta solicitud.
error-step-up-required = Confirme en su teléfono que es usted y vuelva a intentarlo.
error-step-up-page = Hace falta una confirmación reciente de su teléfono: abra { $location }, confirme y vuelva a intentarlo.
error-invalid-bearer = El token bearer es desconocido, caducó, fue revocado o no es para esta aplicación.
error-sign-in-first = Inicie sesión primero.
error-sessions-unavailable = Ahora no se pueden comprobar las sesiones. Inténtelo de nuevo en un momento.
error-upstream-unavailable = La pasarela no pudo contactar con la aplicación. Inténtelo de nuevo en un momento.
error-upstream-timeout = La aplicación no respondió a tiempo. Inténtelo de nuevo en un momento.
error-bad-request = No se pudo entender la solicitud.
error-body-too-slow = El cuerpo de la solicitud se detuvo o llegó por debajo de la velocidad mínima de la pasarela. Envíelo de nuevo.
error-gateway = La pasarela no pudo completar esta solicitud.
error-no-endpoint = No existe ese punto de acceso de la pasarela.
error-assertions-off = Las aserciones de identidad no están activadas.
error-method-not-allowed = Este punto de acceso no acepta ese método.
error-page-failed = No se pudo mostrar la página.

## Inicio de sesión

error-attempt-unknown = Este inicio de sesión es desconocido. Recargue la página para empezar de nuevo.
error-attempt-expired = Este inicio de sesión caducó. Recargue la página para empezar de nuevo.
error-attempt-done = Este inicio de sesión ya se completó o se rechazó.
error-attempt-not-approved = Este inicio de sesión aún no se ha confirmado.
error-attempt-other-browser = Este inicio de sesión se empezó en otro navegador.
error-attempt-other-purpose = Esta confirmación se dio para otra cosa.
error-attempts-full = Hay demasiados inicios de sesión en curso. Inténtelo de nuevo en breve.
error-attempts-client-busy = Hay demasiados inicios de sesión en curso desde esta dirección. Termine uno o espere.
error-bad-json = La solicitud no es JSON válido: { $detail }
error-unknown-body = Confirmación mal formada: se esperaba un {"{"}public_key, signature{"}"} nativo o una confirmación de Tana.
error-not-offered = Esta aplicación no acepta confirmaciones de { $detail }.
error-unknown-channel = Ningún inicio de sesión espera en este canal.
error-body-too-large = El cuerpo de la solicitud supera los { $bytes } bytes.
error-not-permitted = { $user } no puede iniciar sesión en { $app }.
error-device-other-app = Este dispositivo de { $user } se añadió para otra aplicación, no para { $app }.
error-unknown-key = Esta clave no está registrada para { $app }.
error-identity-mismatch = Esta clave pertenece a { $owner }, no a { $asserted }.
error-cross-origin = Esto se hace desde las propias páginas de la aplicación.
error-unauthenticated = No ha iniciado sesión.
error-rate-limited = Demasiadas solicitudes desde esta dirección; inténtelo de nuevo en { $wait }.
error-other-key = Confirme con la clave con la que inició sesión.
error-other-user = Solo una clave de { $user } puede confirmar esto.
error-same-device = Confirme con otra de sus claves: un dispositivo no puede confirmar su propia eliminación.
error-no-other-key = Quitar este dispositivo requiere la confirmación de otra de sus claves, y no tiene ninguna. Pida a su administrador que lo quite.
error-unknown-device = No tiene ningún dispositivo así.
error-other-network = Este inicio de sesión se pidió desde otra red. Confírmelo desde un teléfono en la misma red que el ordenador que muestra el código.
error-store = La pasarela no puede acceder a su almacén ahora. Inténtelo de nuevo en un momento.
error-internal = La pasarela no pudo completar este inicio de sesión.

## Firmas

error-bad-approval = No se pudo leer la confirmación: { $detail }
error-bad-key = La clave no es válida: { $detail }
error-bad-signature-encoding = La firma no está bien codificada: { $detail }
error-wrong-challenge = El mensaje firmado es de otro inicio de sesión.
error-inconsistent = userId/username no coinciden entre el cuerpo y el mensaje firmado.
error-undecryptable = La confirmación no se descifra con el secreto de este inicio de sesión.
error-stale = La confirmación es demasiado antigua o del futuro: { $detail }
error-bad-signature = La firma no es válida: { $detail }
error-bad-token = Se rechazó el token: { $detail }.
error-wrong-capabilities = El token no concede lo que pide este inicio de sesión.
error-replay = Este token ya se usó.

## Dispositivos e invitaciones

error-invitation-gone = Esta invitación ya se usó o caducó. Pida una nueva.
error-unknown-user = No hay ningún usuario configurado llamado { $detail }.
error-unknown-app = No hay ninguna aplicación configurada llamada { $detail }.
error-bad-query = { $detail }
error-bad-ttl = Una invitación dura entre 1 minuto y 24 horas.
error-bad-enrollment = Registro mal formado: { $detail }
error-key-taken = Esta clave ya está registrada.
error-not-configured-user = Solo los usuarios configurados pueden añadir dispositivos.
error-under-review = La configuración acaba de cambiar { $detail }; se están quitando sus dispositivos antiguos. Inténtelo de nuevo en un momento.
error-unknown-parameter = Parámetro desconocido { $detail }: use id, user, key o app.
error-repeated-parameter = El parámetro { $detail } aparece dos veces.
error-no-filter = Indique qué sesiones: id, user, key o app.

## Formularios de las páginas

form-sign-out-scope = Envíe id=<id de sesión>, token=<id de token>, scope=others o scope=all.
form-logout-scope = No envíe formulario, o scope=everywhere.
form-invite = No envíe nada, o confirm=<id del intento>.
form-remove-device = Envíe device=<id del dispositivo>.
form-unknown-user-code = Este código es desconocido, ya se usó o caducó. Compruebe el código que muestra el programa o vuelva a iniciar su inicio de sesión.
form-personal = Envíe name, app, access y days (y confirm=<id del intento> una vez confirmado).
form-personal-off = Los tokens personales necesitan el origen de inicio de sesión de la pasarela ([sso]) y su cliente integrado.
form-personal-name = Dé al token un nombre de 1 a 64 caracteres.
form-personal-app = Elija una aplicación que admita programas.
form-personal-access = Elija acceso de lectura o de lectura y escritura.
form-personal-days = Elija cuántos días dura el token, dentro de lo que permite la pasarela.

## Inicio de sesión único y OpenID Connect

error-no-provider = Aquí no hay ningún proveedor OpenID Connect configurado.
error-missing-client = La aplicación no dijo quién es (client_id). Vuelva a ella e inténtelo de nuevo.
error-unknown-client = Esta aplicación no está registrada en este servicio de inicio de sesión.
error-bad-redirect-uri = La aplicación pidió la respuesta en una dirección que no tiene registrada, así que este inicio de sesión no le enviará allí.
error-client-not-allowed = Su cuenta no puede usar esta aplicación.
error-logout-repeated = Un parámetro aparece más de una vez.
error-logout-unknown-hint = Este proveedor no emitió el id_token_hint.
error-logout-client-mismatch = client_id no coincide con el id_token_hint.
error-sso-no-app = Ninguna aplicación inicia sesión por este origen.
error-sso-no-binding = La solicitud no nombra ningún vínculo de navegador.
error-sso-not-allowed = Ha iniciado sesión en { $gateway }, pero su cuenta no puede usar { $app }. Pida acceso a su administrador.
error-sso-code-spent = El código de inicio de sesión ya se usó o caducó. Vuelva a abrir la aplicación para iniciar sesión.
error-sso-code-other-app = El código de inicio de sesión se emitió para otra aplicación. Vuelva a abrir la aplicación para iniciar sesión.
error-sso-code-other-browser = El código de inicio de sesión se emitió para otro navegador u otro inicio de sesión. Vuelva a abrir la aplicación para iniciar sesión.
error-sso-cross-origin = El inicio de sesión debe completarse desde la propia página de la aplicación.
form-personal-name-hidden = El nombre de un token no puede contener caracteres de control, de formato ni invisibles (como controles bidi o espacios de ancho cero).
form-personal-too-many = Tiene tantos tokens personales como una persona puede tener: revoque uno primero.
title-too-many-codes = Demasiados códigos erróneos
error-too-many-codes = Se escribieron aquí demasiados códigos erróneos hace poco, así que durante un rato no se comprueba ningún código. Espere unos minutos y escriba el código que muestra el programa.
title-too-many-requests = Demasiadas solicitudes
error-token-rate-limited = Este token hizo demasiadas solicitudes; inténtelo de nuevo en { $wait }.
