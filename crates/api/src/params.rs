//! Query strings, parsed by hand: list filters may be repeated (`lang=ar&lang=en`) or
//! comma-separated (`lang=ar,en`), which the usual form decoders do not accept, and every bad
//! value must become a 400 problem that names the parameter.

use chrono::{DateTime, Utc};
use newswire_model::{Category, Lang, SourceId};
use newswire_store::{ArticleFilter, Cursor, PageRequest};

use crate::problem::{ApiProblem, ProblemKind};

/// The default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page size.
pub const MAX_LIMIT: u32 = 200;
/// The longest search query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 500;

/// The parameters of one request, in their order, percent-decoded.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

fn invalid(detail: String) -> ApiProblem {
    ApiProblem::new(ProblemKind::InvalidParameter, detail)
}

impl Query {
    /// Parses a raw query string (without `?`); refuses names not in `allowed`, so that a typo
    /// (`lnag=ar`) is an error instead of a silently unfiltered list.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, ApiProblem> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some((name, _)) = pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            return Err(invalid(format!(
                "unknown parameter `{name}`; this endpoint accepts: {}",
                allowed.join(", ")
            )));
        }
        Ok(Self { pairs })
    }

    /// The pairs, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Every value of `name`, split on commas, empty parts ignored.
    pub fn list(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The single value of `name`; two values are an error.
    pub fn one(&self, name: &str) -> Result<Option<&str>, ApiProblem> {
        let mut values = self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(invalid(format!("`{name}` may be given once")));
        }
        Ok(first)
    }

    /// `name` parsed with `parse` for each listed value.
    pub fn parsed_list<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Vec<T>, ApiProblem> {
        self.list(name)
            .into_iter()
            .map(|v| parse(v).map_err(|e| invalid(format!("`{name}`: {v:?} is not valid: {e}"))))
            .collect()
    }

    /// An RFC 3339 time.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiProblem> {
        let Some(v) = self.one(name)? else { return Ok(None) };
        DateTime::parse_from_rfc3339(v).map(|t| Some(t.with_timezone(&Utc))).map_err(|e| {
            invalid(format!("`{name}`: {v:?} is not an RFC 3339 time (e.g. 2025-02-16T09:30:00Z): {e}"))
        })
    }

    /// `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
    pub fn limit(&self) -> Result<u32, ApiProblem> {
        let Some(v) = self.one("limit")? else { return Ok(DEFAULT_LIMIT) };
        match v.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(invalid(format!("`limit`: {v:?} is not a whole number from 1 to {MAX_LIMIT}"))),
        }
    }

    /// `cursor`, as issued in `next_cursor`.
    pub fn cursor(&self) -> Result<Option<Cursor>, ApiProblem> {
        let Some(v) = self.one("cursor")? else { return Ok(None) };
        Cursor::decode(v).map(Some).ok_or_else(|| {
            ApiProblem::new(
                ProblemKind::InvalidCursor,
                format!("`cursor`: {v:?} was not issued by this API; use `next_cursor` of a previous page"),
            )
        })
    }

    /// `limit` and `cursor`.
    pub fn page(&self) -> Result<PageRequest, ApiProblem> {
        Ok(PageRequest { limit: self.limit()?, after: self.cursor()? })
    }

    /// The article filters present in this query (those an endpoint does not allow were
    /// refused by [`parse`](Self::parse)).
    pub fn filter(&self) -> Result<ArticleFilter, ApiProblem> {
        let stories = self.list("story");
        if stories.len() > 1 {
            return Err(invalid("`story`: one story at a time on this endpoint".to_owned()));
        }
        let since = self.time("since")?;
        let until = self.time("until")?;
        if let (Some(s), Some(u)) = (since, until)
            && s >= u
        {
            return Err(invalid("`since` must be before `until`".to_owned()));
        }
        Ok(ArticleFilter {
            languages: self.parsed_list("lang", Lang::parse)?,
            sources: self.parsed_list("source", SourceId::parse)?,
            categories: self.parsed_list("category", Category::parse)?,
            story: stories.first().map(|s| (*s).to_owned()),
            since,
            until,
            include_duplicates: self.duplicates(false)?,
        })
    }

    /// `duplicates=show|hide`, `default_show` when absent.
    pub fn duplicates(&self, default_show: bool) -> Result<bool, ApiProblem> {
        match self.one("duplicates")? {
            None => Ok(default_show),
            Some("show") => Ok(true),
            Some("hide") => Ok(false),
            Some(v) => Err(invalid(format!("`duplicates`: {v:?} is not `show` or `hide`"))),
        }
    }

    /// This query without `cursor`, plus `cursor=<next>`: the target of a `Link: rel="next"`.
    pub fn next_link(&self, path: &str, next: &Cursor) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.pairs.iter().filter(|(k, _)| k != "cursor") {
            out.append_pair(k, v);
        }
        out.append_pair("cursor", &next.encode());
        format!("{path}?{}", out.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[&str] =
        &["lang", "source", "category", "story", "since", "until", "duplicates", "limit", "cursor"];

    fn q(raw: &str) -> Query {
        Query::parse(Some(raw), ALL).unwrap_or_else(|e| panic!("{raw}: {e:?}"))
    }

    #[test]
    fn lists_are_repeated_or_comma_separated() {
        let f = q("lang=ar,en&lang=fr&source=a-1").filter().unwrap_or_default();
        let langs: Vec<&str> = f.languages.iter().map(|l| l.as_str()).collect();
        assert_eq!(langs, ["ar", "en", "fr"]);
        assert_eq!(f.sources.len(), 1);
        assert!(!f.include_duplicates);
        assert!(q("duplicates=show").filter().is_ok_and(|f| f.include_duplicates));
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (raw, needle) in [
            ("lang=A.B", "`lang`"),
            ("since=yesterday", "`since`"),
            ("limit=0", "`limit`"),
            ("limit=201", "`limit`"),
            ("limit=1&limit=2", "`limit`"),
            ("duplicates=maybe", "`duplicates`"),
            ("since=2025-02-02T00:00:00Z&until=2025-02-01T00:00:00Z", "`since`"),
            ("story=a,b", "`story`"),
        ] {
            let err = q(raw).filter().and_then(|_| q(raw).page()).err();
            let detail = err.map(|e| e.detail).unwrap_or_default();
            assert!(detail.contains(needle), "{raw}: {detail}");
        }
        let unknown = Query::parse(Some("lnag=ar"), ALL).err().map(|e| e.detail).unwrap_or_default();
        assert!(unknown.contains("`lnag`"), "{unknown}");
        let cursor = q("cursor=zz").page().err().map(|e| e.kind);
        assert_eq!(cursor, Some(ProblemKind::InvalidCursor));
    }

    #[test]
    fn the_next_link_keeps_the_filters_and_replaces_the_cursor() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let c = Cursor { at, id: "x".into() };
        let query = Query::parse(Some("lang=ar&cursor=00&q=%D8%A8"), &["lang", "cursor", "q"]);
        let link = query.map(|q| q.next_link("/v1/articles", &c)).unwrap_or_default();
        assert_eq!(link, format!("/v1/articles?lang=ar&q=%D8%A8&cursor={}", c.encode()));
    }
}
