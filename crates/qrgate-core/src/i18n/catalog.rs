//! The Fluent catalogs, compiled in: one bundle per language, made once on first use.
//!
//! A message missing from a catalog (which `tests.rs` forbids) falls back to English, and
//! one missing there too to its id, so a page never fails for a text. Placeables are wrapped
//! in Unicode isolation marks in right-to-left languages only: there they keep a Latin name
//! or address from reordering the sentence around it; in the others they would only add
//! invisible characters to every name.

use std::borrow::Cow;
use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

use super::{Arg, Lang};

/// The catalog files of one language: (file name, text).
type Files = &'static [(&'static str, &'static str)];

macro_rules! catalog {
    ($tag:literal) => {
        &[
            (
                "pages.ftl",
                include_str!(concat!("../../locales/", $tag, "/pages.ftl")),
            ),
            (
                "errors.ftl",
                include_str!(concat!("../../locales/", $tag, "/errors.ftl")),
            ),
        ]
    };
}

/// Every language's catalog files.
pub(super) fn files(lang: Lang) -> Files {
    match lang {
        Lang::En => catalog!("en"),
        Lang::De => catalog!("de"),
        Lang::Fr => catalog!("fr"),
        Lang::Es => catalog!("es"),
        Lang::Ar => catalog!("ar"),
    }
}

type Bundle = FluentBundle<FluentResource>;

static BUNDLES: LazyLock<Vec<(Lang, Bundle)>> =
    LazyLock::new(|| Lang::ALL.into_iter().map(|l| (l, bundle(l))).collect());

/// The bundle of `lang`: its files parsed (a file's unreadable entries are skipped and
/// logged; `tests.rs` keeps the shipped ones clean).
fn bundle(lang: Lang) -> Bundle {
    let id = lang.tag().parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    bundle.set_use_isolating(lang.dir() == "rtl");
    for (name, text) in files(lang) {
        let resource = FluentResource::try_new((*text).to_string()).unwrap_or_else(|(r, errors)| {
            tracing::error!(lang = %lang, file = name, ?errors, "catalog has unreadable entries");
            r
        });
        if let Err(errors) = bundle.add_resource(resource) {
            tracing::error!(lang = %lang, file = name, ?errors, "catalog repeats messages");
        }
    }
    bundle
}

fn bundle_of(lang: Lang) -> Option<&'static Bundle> {
    BUNDLES.iter().find(|(l, _)| *l == lang).map(|(_, b)| b)
}

/// Message `id` of `lang` with `args`; English, then the id, when it is missing.
pub(super) fn format(lang: Lang, id: &str, args: &[(&str, Arg<'_>)]) -> String {
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        let value = match value {
            Arg::Str(s) => FluentValue::String(Cow::Borrowed(*s)),
            Arg::Num(n) => FluentValue::from(*n),
        };
        fluent_args.set(*name, value);
    }
    for lang in [lang, Lang::En] {
        let Some(bundle) = bundle_of(lang) else {
            continue;
        };
        let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
            continue;
        };
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
        if !errors.is_empty() {
            tracing::debug!(lang = %lang, id, ?errors, "message formatted with errors");
        }
        return text.into_owned();
    }
    tracing::error!(id, "no catalog has this message");
    id.to_string()
}

/// Every message id of `lang`'s catalog, in file order.
#[cfg(test)]
pub(super) fn ids(lang: Lang) -> Vec<String> {
    let mut ids = Vec::new();
    for (_, text) in files(lang) {
        let resource = FluentResource::try_new((*text).to_string())
            .unwrap_or_else(|(_, e)| panic!("{lang} catalog does not parse: {e:?}"));
        for entry in resource.entries() {
            if let fluent_syntax::ast::Entry::Message(m) = entry {
                ids.push(m.id.name.to_string());
            }
        }
    }
    ids
}
