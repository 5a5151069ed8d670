# ما تقوله البوابة حين ترفض، بالعربية: صفحات الخطأ (عنوان ونص) و`message` في ردود JSON
# التي تعرضها الصفحات. ‏$detail تفصيل تقني بالإنجليزية؛ ضعه حيث يُقرأ جيدًا أو احذفه.

## عناوين صفحات الخطأ

title-something-went-wrong = حدث خطأ ما
title-sign-in-not-complete = لم يكتمل تسجيل الدخول
title-not-found = غير موجود
title-bad-request = طلب غير صالح
title-outside-grant = غير مسموح بتسجيل الدخول هذا
title-confirm-it-is-you = أكّد أنك أنت
title-sign-in-unavailable = تسجيل الدخول غير متاح
title-temporarily-unavailable = غير متاح مؤقتًا
title-invitation-gone = الدعوة لم تعد صالحة
title-device-not-added = لم يُضَف الجهاز
title-upstream-unavailable = التطبيق لا يستجيب
title-upstream-timeout = استغرق التطبيق وقتًا طويلًا
title-body-too-slow = وصل الطلب ببطء شديد
title-request-incomplete = طلب تسجيل الدخول ناقص
title-unknown-application = تطبيق غير معروف
title-sign-in-request-refused = رُفض طلب تسجيل الدخول
title-not-allowed = غير مسموح
title-sign-out-refused = رُفض طلب تسجيل الخروج
title-sign-in-link-not-valid = رابط تسجيل الدخول غير صالح
title-sign-in-refused = رُفض تسجيل الدخول
title-nothing-to-sign-out = لا شيء لإنهائه
title-nothing-to-do = لا شيء لفعله
title-unknown-code = رمز غير معروف

## الطلبات والصفحات

error-unknown-host = لا يُقدَّم أي تطبيق على هذا العنوان.
error-bad-path = العنوان غير صالح: { $detail }.
error-outside-grant = مُنح تسجيل دخولك هنا صلاحية { $access }، وهي لا تسمح بهذا الطلب.
error-step-up-required = أكّد على هاتفك أنك أنت، ثم أعد المحاولة.
error-step-up-page = يحتاج هذا إلى موافقة جديدة من هاتفك: افتح { $location } ووافق ثم أعد المحاولة.
error-invalid-bearer = رمز الحامل غير معروف أو منتهٍ أو ملغى أو ليس لهذا التطبيق.
error-sign-in-first = سجّل الدخول أولًا.
error-sessions-unavailable = لا يمكن التحقق من الجلسات الآن. حاول مجددًا بعد قليل.
error-upstream-unavailable = تعذّر على البوابة الوصول إلى التطبيق. حاول مجددًا بعد قليل.
error-upstream-timeout = لم يستجب التطبيق في الوقت المحدد. حاول مجددًا بعد قليل.
error-bad-request = تعذّر فهم الطلب.
error-body-too-slow = توقف محتوى الطلب أو وصل بأقل من الحد الأدنى لسرعة البوابة. أرسله مجددًا.
error-gateway = تعذّر على البوابة إكمال هذا الطلب.
error-no-endpoint = لا توجد نقطة النهاية هذه في البوابة.
error-assertions-off = تأكيدات الهوية غير مفعّلة.
error-method-not-allowed = لا تقبل نقطة النهاية هذه تلك الطريقة.
error-page-failed = تعذّر عرض الصفحة.

## تسجيل الدخول

error-attempt-unknown = تسجيل الدخول هذا غير معروف. أعد تحميل الصفحة لتبدأ من جديد.
error-attempt-expired = انتهت صلاحية تسجيل الدخول هذا. أعد تحميل الصفحة لتبدأ من جديد.
error-attempt-done = اكتمل تسجيل الدخول هذا أو رُفض من قبل.
error-attempt-not-approved = لم تتم الموافقة على تسجيل الدخول هذا بعد.
error-attempt-other-browser = بدأ تسجيل الدخول هذا في متصفح آخر.
error-attempt-other-purpose = أُعطيت هذه الموافقة لغرض آخر.
error-attempts-full = عمليات تسجيل دخول كثيرة جارية. حاول مجددًا بعد قليل.
error-attempts-client-busy = عمليات تسجيل دخول كثيرة جارية من هذا العنوان. أكمل إحداها أو انتظر.
error-bad-json = الطلب ليس JSON صالحًا: { $detail }
error-unknown-body = موافقة مشوّهة: المتوقع {"{"}public_key, signature{"}"} أصلي أو موافقة Tana.
error-not-offered = لا يقبل هذا التطبيق موافقات { $detail }.
error-unknown-channel = لا ينتظر أي تسجيل دخول على هذه القناة.
error-body-too-large = محتوى الطلب أكبر من { $bytes } بايت.
error-not-permitted = لا يحق لـ{ $user } تسجيل الدخول إلى { $app }.
error-device-other-app = أُضيف هذا الجهاز الخاص بـ{ $user } لتطبيق آخر، لا لـ{ $app }.
error-unknown-key = هذا المفتاح غير مسجَّل لـ{ $app }.
error-identity-mismatch = هذا المفتاح يخص { $owner }، لا { $asserted }.
error-cross-origin = يجب أن يتم هذا من صفحات التطبيق نفسه.
error-unauthenticated = لم تسجّل الدخول.
error-rate-limited = طلبات كثيرة من هذا العنوان؛ حاول مجددًا بعد { $wait }.
error-other-key = أكّد بالمفتاح الذي سجّلت الدخول به.
error-other-user = لا يؤكد هذا إلا مفتاح يخص { $user }.
error-same-device = أكّد بمفتاح آخر من مفاتيحك: لا يستطيع الجهاز الموافقة على إزالته.
error-no-other-key = تحتاج إزالة هذا الجهاز إلى موافقة مفتاح آخر من مفاتيحك، وليس لديك غيره. اطلب من المسؤول إزالته.
error-unknown-device = لا يوجد جهاز كهذا ضمن أجهزتك.
error-other-network = طُلب تسجيل الدخول هذا من شبكة أخرى. وافق عليه من هاتف على الشبكة نفسها التي عليها الحاسوب الذي يعرض الرمز.
error-store = لا تصل البوابة إلى مخزنها الآن. حاول مجددًا بعد قليل.
error-internal = تعذّر على البوابة إكمال تسجيل الدخول هذا.

## التواقيع

error-bad-approval = تعذّرت قراءة الموافقة: { $detail }
error-bad-key = المفتاح غير صالح: { $detail }
error-bad-signature-encoding = ترميز التوقيع غير صحيح: { $detail }
error-wrong-challenge = الرسالة الموقّعة تخص تسجيل دخول آخر.
error-inconsistent = يختلف userId/username بين المحتوى والرسالة الموقّعة.
error-undecryptable = لا تُفك الموافقة بسرّ تسجيل الدخول هذا.
error-stale = الموافقة قديمة جدًا أو من المستقبل: { $detail }
error-bad-signature = التوقيع غير صحيح: { $detail }
error-bad-token = رُفض الرمز: { $detail }.
error-wrong-capabilities = لا يمنح الرمز ما طلبه تسجيل الدخول هذا.
error-replay = استُخدم هذا الرمز من قبل.

## الأجهزة والدعوات

error-invitation-gone = استُخدمت هذه الدعوة أو انتهت صلاحيتها. اطلب دعوة جديدة.
error-unknown-user = لا يوجد مستخدم باسم { $detail } في الإعدادات.
error-unknown-app = لا يوجد تطبيق باسم { $detail } في الإعدادات.
error-bad-query = { $detail }
error-bad-ttl = تدوم الدعوة بين دقيقة واحدة و24 ساعة.
error-bad-enrollment = تسجيل مشوّه: { $detail }
error-key-taken = هذا المفتاح مسجَّل من قبل.
error-not-configured-user = لا يضيف الأجهزةَ إلا المستخدمون المعرَّفون في الإعدادات.
error-under-review = غيّرت الإعدادات للتو { $detail }؛ تجري إزالة أجهزته القديمة. حاول مجددًا بعد قليل.
error-unknown-parameter = معامل غير معروف { $detail }: استخدم id أو user أو key أو app.
error-repeated-parameter = المعامل { $detail } مذكور مرتين.
error-no-filter = حدّد الجلسات: id أو user أو key أو app.

## نماذج الصفحات

form-sign-out-scope = أرسل id=<معرّف الجلسة> أو token=<معرّف الرمز> أو scope=others أو scope=all.
form-logout-scope = لا ترسل نموذجًا، أو أرسل scope=everywhere.
form-invite = لا ترسل شيئًا، أو أرسل confirm=<معرّف المحاولة>.
form-remove-device = أرسل device=<معرّف الجهاز>.
form-unknown-user-code = هذا الرمز غير معروف أو مستخدم أو منتهٍ. تحقّق من الرمز الذي يعرضه البرنامج، أو ابدأ تسجيل دخوله من جديد.
form-personal = أرسل name وapp وaccess وdays (وconfirm=<معرّف المحاولة> بعد الموافقة).
form-personal-off = تحتاج الرموز الشخصية إلى أصل تسجيل الدخول في البوابة ([sso]) وعميلها المدمج.
form-personal-name = أعطِ الرمز اسمًا من 1 إلى 64 حرفًا.
form-personal-app = اختر تطبيقًا يسمح بالبرامج.
form-personal-access = اختر صلاحية القراءة أو القراءة والكتابة.
form-personal-days = اختر عدد أيام صلاحية الرمز، ضمن ما تسمح به البوابة.

## الدخول الموحّد وOpenID Connect

error-no-provider = لا يوجد مزوّد OpenID Connect مُعدّ هنا.
error-missing-client = لم يذكر التطبيق هويته (client_id). عد إليه وحاول مجددًا.
error-unknown-client = هذا التطبيق غير مسجَّل في خدمة تسجيل الدخول هذه.
error-bad-redirect-uri = طلب التطبيق الرد إلى عنوان لم يسجّله، لذا لن يرسلك تسجيل الدخول هذا إليه.
error-client-not-allowed = لا يحق لحسابك استخدام هذا التطبيق.
error-logout-repeated = أحد المعاملات مذكور أكثر من مرة.
error-logout-unknown-hint = لم يُصدر هذا المزوّد id_token_hint هذا.
error-logout-client-mismatch = لا يطابق client_id الـid_token_hint.
error-sso-no-app = لا يسجّل أي تطبيق الدخول عبر هذا الأصل.
error-sso-no-binding = لا يذكر الطلب أي ربط بمتصفح.
error-sso-not-allowed = أنت مسجّل الدخول في { $gateway }، لكن لا يحق لحسابك استخدام { $app }. اطلب الوصول من مسؤوله.
error-sso-code-spent = استُخدم رمز تسجيل الدخول أو انتهت صلاحيته. افتح التطبيق مجددًا لتسجيل الدخول.
error-sso-code-other-app = صدر رمز تسجيل الدخول لتطبيق آخر. افتح التطبيق مجددًا لتسجيل الدخول.
error-sso-code-other-browser = صدر رمز تسجيل الدخول لمتصفح آخر أو لتسجيل دخول آخر. افتح التطبيق مجددًا لتسجيل الدخول.
error-sso-cross-origin = يجب إكمال تسجيل الدخول من صفحة التطبيق نفسه.
form-personal-name-hidden = لا يجوز أن يحتوي اسم الرمز على محارف تحكم أو تنسيق أو محارف غير مرئية (مثل محارف التحكم في الاتجاه أو المسافات عديمة العرض).
form-personal-too-many = لديك أقصى عدد من الرموز الشخصية المسموح به لشخص واحد: ألغِ واحدًا أولًا.
title-too-many-codes = رموز خاطئة كثيرة جدًا
error-too-many-codes = أُدخلت هنا مؤخرًا رموز خاطئة كثيرة جدًا، لذا لن يُفحص أي رمز لبعض الوقت. انتظر بضع دقائق، ثم أدخل الرمز الذي يعرضه البرنامج.
title-too-many-requests = طلبات كثيرة جدًا
error-token-rate-limited = أرسل هذا الرمز طلبات كثيرة جدًا؛ حاول مرة أخرى بعد { $wait }.
