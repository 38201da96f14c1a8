//! robots.txt (RFC 9309), pure: parse a file for one crawler and answer whether a path may be
//! fetched. Used for article pages (feeds are what a site publishes for machines to read; its
//! pages are what robots.txt governs).
//!
//! - The group whose `user-agent` names our product token (case-insensitive) applies, else the
//!   `*` group, else nothing is disallowed. Consecutive `user-agent` lines share one group, and
//!   several groups for the same agent are merged.
//! - The longest matching rule wins; on a tie `allow` wins. `*` matches any run of characters
//!   and a final `$` anchors the end. An empty `disallow` allows everything.
//! - `crawl-delay` (not in the RFC, but widely used) is kept for the politeness gate.

use std::time::Duration;

/// Rules read from a robots.txt for one crawler.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Robots {
    /// (allow, pattern), from the applicable group.
    rules: Vec<(bool, String)>,
    /// `crawl-delay` of the applicable group, if any.
    crawl_delay: Option<Duration>,
}

/// Longest `crawl-delay` honoured: a site asking for more is still fetched this often at most.
const MAX_CRAWL_DELAY: Duration = Duration::from_secs(60);

/// A group being read: its agents and rules.
#[derive(Default)]
struct Group {
    agents: Vec<String>,
    rules: Vec<(bool, String)>,
    crawl_delay: Option<Duration>,
}

impl Robots {
    /// Nothing disallowed (a missing robots.txt: 4xx).
    pub fn allow_all() -> Self {
        Self::default()
    }

    /// Everything disallowed (an unreachable robots.txt: 5xx or network error, which RFC 9309
    /// asks crawlers to read as a complete disallow).
    pub fn disallow_all() -> Self {
        Self { rules: vec![(false, "/".to_owned())], crawl_delay: None }
    }

    /// Parses `text` for the crawler whose product token is `agent` (e.g. `newswire`).
    /// Unknown lines and malformed lines are ignored, as RFC 9309 asks.
    pub fn parse(text: &str, agent: &str) -> Self {
        let agent = agent.to_ascii_lowercase();
        let mut groups: Vec<Group> = Vec::new();
        let mut current = Group::default();
        let mut in_agents = false;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            let Some((key, value)) = line.split_once(':') else { continue };
            let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
            match key.as_str() {
                "user-agent" => {
                    if !in_agents && !current.agents.is_empty() {
                        groups.push(std::mem::take(&mut current));
                    }
                    current.agents.push(value.to_ascii_lowercase());
                    in_agents = true;
                }
                "allow" | "disallow" => {
                    in_agents = false;
                    if current.agents.is_empty() {
                        continue; // a rule outside any group
                    }
                    if value.is_empty() {
                        continue; // `disallow:` with no path allows everything
                    }
                    current.rules.push((key == "allow", value.to_owned()));
                }
                "crawl-delay" => {
                    in_agents = false;
                    if let Ok(secs) = value.parse::<f64>()
                        && secs.is_finite()
                        && secs >= 0.0
                    {
                        // Capped before converting: from_secs_f64 rejects huge values.
                        current.crawl_delay =
                            Some(Duration::from_secs_f64(secs.min(MAX_CRAWL_DELAY.as_secs_f64())));
                    }
                }
                _ => {}
            }
        }
        if !current.agents.is_empty() {
            groups.push(current);
        }
        let named = |g: &Group| g.agents.iter().any(|a| a != "*" && agent.contains(a.as_str()));
        let chosen: Vec<&Group> = if groups.iter().any(named) {
            groups.iter().filter(|g| named(g)).collect()
        } else {
            groups.iter().filter(|g| g.agents.iter().any(|a| a == "*")).collect()
        };
        Self {
            rules: chosen.iter().flat_map(|g| g.rules.iter().cloned()).collect(),
            crawl_delay: chosen.iter().filter_map(|g| g.crawl_delay).max(),
        }
    }

    /// Whether `path` (path and query, starting with `/`) may be fetched.
    pub fn allows(&self, path: &str) -> bool {
        let mut best: Option<(usize, bool)> = None;
        for (allow, pattern) in &self.rules {
            if matches(pattern, path) {
                let len = pattern.len();
                if best.is_none_or(|(l, a)| len > l || (len == l && *allow && !a)) {
                    best = Some((len, *allow));
                }
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }

    /// The `crawl-delay` asked for, at most a minute.
    pub fn crawl_delay(&self) -> Option<Duration> {
        self.crawl_delay
    }
}

/// Whether a robots.txt `pattern` matches `path` from its start: `*` is any run of characters,
/// a final `$` the end of the path. Iterative (greedy with backtracking to the last `*`), so a
/// hostile pattern costs at most |pattern| × |path|.
fn matches(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let (p, s) = (pattern.as_bytes(), path.as_bytes());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if i == p.len() {
            if !anchored || j == s.len() {
                return true;
            }
        } else if p[i] == b'*' {
            star = Some((i, j));
            i += 1;
            continue;
        } else if j < s.len() && p[i] == s[j] {
            i += 1;
            j += 1;
            continue;
        }
        // Mismatch (or anchored end not reached): let the last `*` take one more character.
        match star {
            Some((si, sj)) if sj < s.len() => {
                star = Some((si, sj + 1));
                i = si + 1;
                j = sj + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# comments and unknown lines are ignored
Sitemap: https://example.com/sitemap.xml

User-agent: *
Disallow: /private/
Allow: /private/open/
Disallow: /*.pdf$
Crawl-delay: 2

User-agent: OtherBot
User-agent: newswire
Disallow: /news/drafts
Disallow: /search?q=*
Crawl-delay: 5
";

    #[test]
    fn the_group_naming_us_applies_instead_of_the_star_group() {
        let r = Robots::parse(FILE, "newswire");
        assert!(!r.allows("/news/drafts/1"));
        assert!(!r.allows("/search?q=x"));
        assert!(r.allows("/private/page"), "the * group does not apply when ours exists");
        assert_eq!(r.crawl_delay(), Some(Duration::from_secs(5)));
        let other = Robots::parse(FILE, "someone-else");
        assert!(!other.allows("/private/page"));
        assert!(other.allows("/private/open/page"), "the longer allow wins");
        assert!(!other.allows("/files/report.pdf"));
        assert!(other.allows("/files/report.pdf?download=1"), "$ anchors the end");
        assert!(other.allows("/news/drafts/1"));
        assert_eq!(other.crawl_delay(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn ties_go_to_allow_and_empty_disallow_allows_everything() {
        let r = Robots::parse("User-agent: *\nDisallow: /a\nAllow: /a\n", "newswire");
        assert!(r.allows("/a/b"));
        let r = Robots::parse("User-agent: *\nDisallow:\n", "newswire");
        assert!(r.allows("/anything"));
        assert!(Robots::parse("", "newswire").allows("/x"));
        assert!(!Robots::disallow_all().allows("/"));
    }

    #[test]
    fn wildcards_match_any_run_and_hostile_patterns_stay_cheap() {
        assert!(matches("/a*b*c", "/a-x-b-y-c-z"));
        assert!(!matches("/a*b*c$", "/a-x-b-y-c-z"));
        assert!(matches("/*", "/"));
        let pattern = "/".to_owned() + &"*a".repeat(200) + "$";
        let path = "/".to_owned() + &"a".repeat(2000) + "b";
        assert!(!matches(&pattern, &path));
    }

    #[test]
    fn rules_before_any_user_agent_and_garbage_are_ignored() {
        let r = Robots::parse("Disallow: /\nnot a rule\nUser-agent: *\nDisallow: /x\n\u{0}:::\n", "newswire");
        assert!(r.allows("/"));
        assert!(!r.allows("/x"));
    }
}
