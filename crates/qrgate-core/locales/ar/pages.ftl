# صفحات qrgate بالعربية (من اليمين إلى اليسار). تملأ البوابة العناصر النائبة ({ $name })؛
# احتفظ بها ورتّبها كما يناسب الجملة.

## التواريخ والمدد

date-time = { $day } { $month ->
        [1] يناير
        [2] فبراير
        [3] مارس
        [4] أبريل
        [5] مايو
        [6] يونيو
        [7] يوليو
        [8] أغسطس
        [9] سبتمبر
        [10] أكتوبر
        [11] نوفمبر
       *[12] ديسمبر
    } { $year }، { $time } UTC
date-unknown = غير معروف
duration-seconds = { $n ->
        [zero] { $n } ثانية
        [one] ثانية واحدة
        [two] ثانيتان
        [few] { $n } ثوانٍ
        [many] { $n } ثانية
       *[other] { $n } ثانية
    }
duration-minutes = { $n ->
        [zero] { $n } دقيقة
        [one] دقيقة واحدة
        [two] دقيقتان
        [few] { $n } دقائق
        [many] { $n } دقيقة
       *[other] { $n } دقيقة
    }
duration-hours = { $n ->
        [zero] { $n } ساعة
        [one] ساعة واحدة
        [two] ساعتان
        [few] { $n } ساعات
        [many] { $n } ساعة
       *[other] { $n } ساعة
    }
duration-days = { $n ->
        [zero] { $n } يوم
        [one] يوم واحد
        [two] يومان
        [few] { $n } أيام
        [many] { $n } يومًا
       *[other] { $n } يوم
    }

## صفحة تسجيل الدخول

login-title = تسجيل الدخول إلى { $app }
login-title-device = السماح لبرنامج — { $app }
login-title-action = التأكيد بهاتفك — { $app }
login-title-step-up = أكّد أنك أنت — { $app }
login-heading = تسجيل الدخول إلى { $app }
login-hint = امسح الرمز بتطبيق التوقيع ثم أكّد على هاتفك. بلا كلمة مرور، ومفتاحك لا يغادر هاتفك أبدًا.
login-device-heading = السماح لبرنامج
login-device-hint = قارن الرمز بالرمز الذي يعرضه البرنامج. إن كان لك فامسح رمز QR بتطبيق التوقيع ووافق هناك؛ وإلا فارفض على الهاتف.
login-action-heading = التأكيد بهاتفك: { $action }
login-action-hint = امسح الرمز بهاتف يحمل أحد مفاتيحك ووافق هناك؛ يعرض الهاتف ما يوافق عليه. لن يتغير شيء قبل ذلك.
login-step-up-heading = أكّد أنك أنت
login-step-up-hint = يحتاج هذا الجزء من { $app } إلى موافقة جديدة. امسح الرمز بالهاتف الذي سجّلت الدخول به وأكّد هناك؛ ثم تتابع من حيث كنت.
login-noscript = بعد الموافقة على هاتفك، تابع من هنا:
login-continue = متابعة
login-this-device-sign-in = تسجيل الدخول بهذا الجهاز
login-this-device-confirm = التأكيد بهذا الجهاز
login-this-device-hint = يحمل هذا المتصفح مفتاحًا للمستخدم { $user }. أو امسح الرمز بهاتف آخر:
login-signing-app = تطبيق التوقيع
login-qr-label = رمز QR لتسجيل الدخول باستخدام { $app }
login-open-app = افتح { $app } على هذا الجهاز
login-copy = نسخ الرمز
login-copied = تم النسخ
login-code-as-text = رمز الدخول نصًّا
login-expires-in = تنتهي صلاحية هذا الرمز بعد { $seconds } ث.

## ما تقوله صفحة الدخول أثناء الانتظار

status-waiting = في انتظار هاتفك…
status-scanned = تم مسح الرمز — أكّد على هاتفك.
status-approved-device = تمت الموافقة. يتابع البرنامج وحده؛ يمكنك إغلاق هذه الصفحة.
status-claim-failed = تعذّر إكمال تسجيل الدخول.
status-claim-failed-reload = تعذّر إكمال تسجيل الدخول. أعد تحميل الصفحة للمحاولة مجددًا.
status-confirmed-by = أكّده { $name }.
status-signed-in-as = تم تسجيل الدخول باسم { $name }.
status-declined = رُفض تسجيل الدخول على الهاتف.
status-lost = انقطع الاتصال بخدمة تسجيل الدخول. أعد تحميل الصفحة للمحاولة مجددًا.
status-reconnecting = جارٍ إعادة الاتصال…

## صفحة الموافقة (متصفح الهاتف)

approve-title = الموافقة على تسجيل الدخول إلى { $app }
approve-title-action = تأكيد تغيير في حسابك
approve-heading = تسجيل الدخول إلى { $app }؟
approve-hint = يطلب حاسوب تسجيل الدخول بمفتاحك. وافق فقط إن كان أمامك.
approve-step-up-heading = أكّد أنك أنت
approve-action-heading = تأكيد: { $action }؟
approve-not-sign-in = هذا ليس تسجيل دخول.
approve-action-hint = يطلب حاسوب مسجَّل الدخول باسمك ما يلي: { $action }. وافق فقط إن طلبت ذلك بنفسك من الحاسوب الذي أمامك.
approve-app = التطبيق
approve-address = العنوان
approve-asked-by = الطالب
approve-from = من
approve-at = الوقت
approve-access = الصلاحية
approve-action = الإجراء
approve-signing-in-as = الدخول باسم
approve-confirming-as = التأكيد باسم
approve-approve = موافقة
approve-decline = رفض
approve-no-key = لا يحمل هذا الهاتف مفتاحًا للعنوان { $origin }.
approve-no-key-hint = لتسجيل الدخول بمتصفح هذا الهاتف يجب إضافته أولًا: اطلب رابط دعوة من المسؤول، أو افتح صفحة الجلسات على حاسوب سجّلت الدخول فيه واختر «إضافة هاتف». افتح الرابط هنا على هذا الهاتف، ثم امسح رمز الدخول مرة أخرى.
approve-unsupported = لا يستطيع هذا المتصفح تسجيل دخولك.
approve-unsupported-hint = يحتاج إلى Ed25519 في WebCrypto على عنوان HTTPS. تدعمه الإصدارات الحديثة من Chrome (137 أو أحدث) وSafari (17 أو أحدث) وFirefox (129 أو أحدث)؛ أو استخدم Pubky Ring أو tana-mobile.
status-approving = جارٍ الموافقة…
status-confirmed-go-back = تم التأكيد — عد إلى حاسوبك.
status-done-go-back = تم — عد إلى حاسوبك.
status-declined-nothing-changed = تم الرفض. لم يتغير شيء.
status-declined-nobody = تم الرفض. لم يُسجَّل دخول أحد.

## هذا المتصفح أداةً للتوقيع

device-unenrolled = لم يعد هذا الجهاز مسجَّلًا. اطلب دعوة جديدة.
device-refused = رفضت البوابة الطلب ({ $status }).
device-other-site = تسجيل الدخول هذا ليس لهذا الموقع؛ لم يُوقَّع شيء.
device-other-action = هذه الموافقة ليست ما تعرضه هذه الصفحة؛ لم يُوقَّع شيء.

## إضافة هاتف

enroll-title = إضافة هذا الهاتف — { $app }
enroll-heading = إضافة هذا الهاتف
enroll-intro = تتيح هذه الدعوة لهذا الهاتف تسجيل الدخول إلى { $app } ({ $origin }) باسم { $user }.
enroll-hint = ينشئ الهاتف مفتاحًا لا يغادر هذا المتصفح أبدًا. بعد ذلك امسح رمز دخول بالكاميرا ووافق هنا. تصلح الدعوة مرة واحدة وتنتهي في { $expires }.
enroll-replaces = يسجّل هذا المتصفح الدخول باسم { $user } مسبقًا؛ إضافته مجددًا تستبدل ذلك المفتاح.
enroll-other-user = نعم: من الآن يسجّل هذا الهاتف الدخول باسم { $user }، لا باسم { $current }.
enroll-button = إضافة هذا الهاتف
enroll-unsupported = لا يستطيع هذا المتصفح الاحتفاظ بمفتاح توقيع.
enroll-unsupported-hint = يحتاج إلى Ed25519 في WebCrypto على عنوان HTTPS. تدعمه الإصدارات الحديثة من Chrome (137 أو أحدث) وSafari (17 أو أحدث) وFirefox (129 أو أحدث). افتح الرابط في أحدها؛ الدعوة ما زالت غير مستخدمة.
status-adding = جارٍ إضافة هذا الهاتف…
status-add-failed = تعذّرت إضافة هذا الهاتف.
status-add-failed-because = تعذّرت إضافة هذا الهاتف: { $reason }
status-added = يسجّل هذا الهاتف الدخول الآن باسم { $user }. امسح رمز دخول بالكاميرا لاستخدامه.
invite-title = إضافة هاتف — { $app }
invite-heading = إضافة هاتف
invite-intro = امسح هذا الرمز بكاميرا الهاتف الذي تريد إضافته. سيسجّل الدخول إلى { $app } باسم { $user }.
invite-qr-label = رمز QR لرابط الدعوة
invite-link-label = رابط الدعوة (يصلح مرة واحدة، حتى { $expires })
invite-warning = يستطيع كل من يملك هذا الرابط إضافة هاتف إلى حسابك ما دام غير مستخدم: لا تشاركه.
invite-back = العودة إلى جلساتك

## صفحة الجلسات

sessions-title = جلساتك — { $app }
sessions-signed-in-as = مسجَّل الدخول باسم { $user }
sessions-key-hint = سجّلت الدخول هنا بالمفتاح { $key }….
sessions-keys = مفاتيحك
sessions-signed-in-here = مسجَّل الدخول هنا
sessions-key-line = { $app } · أُضيف: { $enrolled } · آخر استخدام: { $last_used }
sessions-configured-key = مفتاح من إعدادات البوابة
sessions-every-app = كل تطبيق مسموح لك به
sessions-by-administrator = بواسطة المسؤول
sessions-no-live-session = لا جلسة نشطة
sessions-remove-device = إزالة هذا الجهاز
sessions-removable-hint = إزالة جهاز تنهي جلساته في كل مكان؛ ويجب أن يوافق عليها أحد مفاتيحك الأخرى على هاتف.
sessions-single-key-hint = بمفتاح واحد لا يمكنك إزالته هنا: يجب أن يوافق مفتاح آخر من مفاتيحك على الإزالة. راجع المسؤول.
sessions-heading = جلساتك
sessions-count = { $n ->
        [zero] لا جلسات.
        [one] جلسة واحدة.
        [two] جلستان.
        [few] { $n } جلسات.
        [many] { $n } جلسة.
       *[other] { $n } جلسة.
    }
sessions-hint = كل جلساتك على هذه البوابة، أيًّا كان المفتاح الذي سجّل دخولها. أنهِ أي جلسة لا تعرفها.
sessions-this-browser = هذا المتصفح
sessions-since = منذ { $since } · آخر نشاط { $last_seen }
sessions-sign-out-one = إنهاء هذه الجلسة
sessions-programs = البرامج والنصوص البرمجية
sessions-programs-hint = رموز وافق عليها هاتفك لبرامج. إلغاء أحدها يوقفه فورًا وفي كل مكان.
sessions-token-line = { $grant } · من { $from } · منذ { $since } · حتى { $until }
sessions-token-used-from = آخر استخدام { $when } من { $from }
sessions-token-used = آخر استخدام { $when }
sessions-token-unused = لم يُستخدم بعد
sessions-personal-token-name = «{ $name }» (رمز شخصي)
sessions-revoke = إلغاء
sessions-personal-heading = إنشاء رمز شخصي
sessions-personal-hint = لمهمة تعمل من دونك: يوافق عليه هاتفك الآن، ويُعرض مرة واحدة.
sessions-personal-name = الاسم
sessions-personal-app = التطبيق
sessions-personal-access = الصلاحية
sessions-access-read = قراءة
sessions-access-read-write = قراءة وكتابة
sessions-personal-days = الأيام
sessions-personal-make = إنشاء رمز
sessions-sign-out-others = إنهاء كل الجلسات الأخرى
sessions-sign-out-all = تسجيل الخروج من كل مكان
sessions-add-phone = إضافة هاتف
sessions-add-phone-hint = سجّل الدخول بكاميرا الهاتف ومتصفحه، بلا تطبيق: أكّد على هاتف يحمل أحد مفاتيحك، ثم افتح الدعوة أحادية الاستخدام على الهاتف الجديد.

## رمز شخصي يُعرض مرة واحدة

shown-token-title = رمزك الشخصي
shown-token-heading = الرمز الشخصي «{ $name }»
shown-token-what = صلاحية { $access } على { $app } حتى { $until }. انسخه الآن: لن يُعرض مرة أخرى.
shown-token-usage = أرسله هكذا:
shown-token-back = ألغِه من صفحة جلساتك

## صفحات أصغر

sso-signing-in = جارٍ تسجيل الدخول إلى { $app }…
logout-title = تسجيل الخروج من { $app }
logout-heading = تسجيل الخروج من { $app }؟
logout-button = تسجيل الخروج
signed-out-title = تم تسجيل الخروج من { $app }
signed-out-heading = تم تسجيل الخروج
signed-out-text = لقد سجّلت الخروج من { $app }.
device-code-title = السماح لبرنامج — { $gateway }
device-code-hint = اكتب الرمز الذي يعرضه البرنامج.
device-code-label = الرمز
sessions-everywhere-ends-tokens = يُنهي تسجيل الخروج من كل مكان أيضًا كل رمز للبرامج والنصوص البرمجية تملكه، بما فيها الرموز الشخصية: تتوقف المهام التي تستخدمها. أما تسجيل الخروج من كل الجلسات الأخرى فيُبقيها.
