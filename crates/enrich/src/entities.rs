use std::sync::LazyLock;

use newswire_clean::{normalize_for_matching, tokens};
use newswire_model::{Entity, EntityKind};
use rustc_hash::FxHashMap;

use crate::terms::stem;

const GAZETTEER: &str = include_str!("../data/gazetteer.tsv");

/// Known entities and their aliases, indexed by the first word of each normalised alias.
#[derive(Debug)]
pub struct Gazetteer {
    names: Vec<(String, EntityKind)>,
    /// First alias word → (alias words, entity index), longest aliases first.
    by_first: FxHashMap<String, Vec<(Vec<String>, usize)>>,
}

static DEFAULT: LazyLock<Gazetteer> = LazyLock::new(|| Gazetteer::parse(GAZETTEER));

impl Gazetteer {
    /// The gazetteer compiled in from `data/gazetteer.tsv`.
    pub fn default_ref() -> &'static Gazetteer {
        &DEFAULT
    }

    /// Parses `name<TAB>kind<TAB>alias|alias…` lines; `#` starts a comment. Malformed lines
    /// are skipped (the file is compiled in and checked by a test).
    pub fn parse(text: &str) -> Self {
        let mut names = Vec::new();
        let mut by_first: FxHashMap<String, Vec<(Vec<String>, usize)>> = FxHashMap::default();
        for line in text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
            let mut cols = line.split('\t');
            let (Some(name), Some(kind), Some(aliases)) = (cols.next(), cols.next(), cols.next()) else {
                continue;
            };
            let kind = match kind {
                "person" => EntityKind::Person,
                "place" => EntityKind::Place,
                "organization" => EntityKind::Organization,
                _ => EntityKind::Other,
            };
            let idx = names.len();
            names.push((name.to_owned(), kind));
            for alias in aliases.split('|') {
                let words: Vec<String> = tokens(&normalize_for_matching(alias)).map(str::to_owned).collect();
                if let Some(first) = words.first() {
                    by_first.entry(first.clone()).or_default().push((words, idx));
                }
            }
        }
        for list in by_first.values_mut() {
            list.sort_by_key(|(w, _)| std::cmp::Reverse(w.len()));
        }
        Self { names, by_first }
    }

    /// Number of entities.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Entities mentioned in a normalised text, most mentioned first.
    pub fn find(&self, normalized: &str) -> Vec<Entity> {
        let words: Vec<&str> = tokens(normalized).collect();
        let mut counts: FxHashMap<usize, u32> = FxHashMap::default();
        let mut i = 0;
        while i < words.len() {
            let mut matched = 0;
            'forms: for form in candidates(words[i]) {
                if let Some(list) = self.by_first.get(form) {
                    for (alias, idx) in list {
                        let n = alias.len();
                        if i + n <= words.len()
                            && words[i + 1..i + n].iter().zip(&alias[1..]).all(|(w, a)| *w == a)
                        {
                            *counts.entry(*idx).or_default() += 1;
                            matched = n;
                            break 'forms;
                        }
                    }
                }
            }
            i += matched.max(1);
        }
        let mut out: Vec<Entity> = counts
            .into_iter()
            .map(|(idx, count)| Entity { name: self.names[idx].0.clone(), kind: self.names[idx].1, count })
            .collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        out
    }
}

/// A word and its forms without Arabic proclitics (و ف ب ل ك, ال and their combinations).
fn candidates(word: &str) -> impl Iterator<Item = &str> {
    let stripped = stem(word);
    // "والروسية" → "الروسية" (conjunction only) and "روسيه" (article too).
    let conjunction = word.strip_prefix(['و', 'ف']).filter(|r| r.chars().count() >= 3);
    [Some(word), conjunction, (stripped != word).then_some(stripped)].into_iter().flatten()
}

/// [`Gazetteer::find`] with the compiled-in gazetteer.
pub fn find_entities(normalized: &str) -> Vec<Entity> {
    Gazetteer::default_ref().find(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        let mut n: Vec<String> =
            find_entities(&normalize_for_matching(text)).into_iter().map(|e| e.name).collect();
        n.sort();
        n
    }

    #[test]
    fn spelling_variants_and_clitics_map_to_one_entity() {
        assert_eq!(names("التقى بوتين وترمب ثم اتصل بوتن بترامب"), ["Donald Trump", "Vladimir Putin"]);
        assert_eq!(names("وزير الخارجیة الروسي سيرغي لافروف"), ["Russia", "Sergey Lavrov"]);
        assert_eq!(names("في الولايات المتحدة الأمريكية والرياض"), ["Riyadh", "United States"]);
        assert_eq!(
            names("Lavrov spoke with Blinken about Navalny."),
            ["Alexei Navalny", "Antony Blinken", "Sergey Lavrov"]
        );
    }

    #[test]
    fn counts_and_order() {
        let e = find_entities(&normalize_for_matching("روسيا روسيا أوكرانيا"));
        assert_eq!((e[0].name.as_str(), e[0].count), ("Russia", 2));
        assert_eq!(e[0].kind, EntityKind::Place);
    }

    #[test]
    fn common_words_are_not_entities() {
        assert!(names("كيف يمكن أن يحدث هذا؟ who told us").is_empty());
    }

    #[test]
    fn the_compiled_gazetteer_parses_completely() {
        let lines = GAZETTEER.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).count();
        assert_eq!(Gazetteer::default_ref().len(), lines, "a gazetteer line is malformed");
    }
}
