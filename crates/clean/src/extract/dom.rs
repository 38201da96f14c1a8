//! One linear analysis of the parsed page: every element's text, link text and paragraph text,
//! which elements are chrome, and the choice of the main block. All walks are iterative (an
//! explicit position in the tree, never recursion), so nesting depth costs neither stack nor
//! more than constant work per node.

use ego_tree::{NodeId, NodeRef};
use rustc_hash::FxHashMap;
use scraper::Node;

use super::rules::{self, NameRule};

/// No element (a parent index of the root).
pub(super) const NONE: u32 = u32::MAX;

/// A paragraph shorter than this (in non-blank characters) does not vote for its container.
const MIN_PARAGRAPH: u32 = 25;

/// Callbacks of [`walk`].
pub(super) trait Visitor<'a> {
    /// Called on each node in document order; returns whether to visit its children.
    fn enter(&mut self, node: NodeRef<'a, Node>) -> bool;
    /// Called after the children of a node `enter` descended into.
    fn leave(&mut self, node: NodeRef<'a, Node>);
}

/// Visits the descendants of `root` in document order, without recursion: the position in the
/// tree is the only state, so a page nested 100,000 levels deep walks like a flat one.
pub(super) fn walk<'a>(root: NodeRef<'a, Node>, v: &mut impl Visitor<'a>) {
    let mut next = root.first_child();
    while let Some(node) = next {
        if v.enter(node) {
            if let Some(child) = node.first_child() {
                next = Some(child);
                continue;
            }
            v.leave(node);
        }
        // Up until a next sibling is found, leaving each finished parent.
        let mut cur = node;
        next = None;
        loop {
            if let Some(sibling) = cur.next_sibling() {
                next = Some(sibling);
                break;
            }
            match cur.parent() {
                Some(p) if p.id() != root.id() => {
                    v.leave(p);
                    cur = p;
                }
                _ => break,
            }
        }
    }
}

/// Non-blank characters and commas (Latin and Arabic) of a text node.
pub(super) fn measure(t: &str) -> (u32, u32) {
    let mut chars = 0u32;
    let mut commas = 0u32;
    for c in t.chars() {
        if !c.is_whitespace() {
            chars = chars.saturating_add(1);
            if matches!(c, ',' | '،') {
                commas = commas.saturating_add(1);
            }
        }
    }
    (chars, commas)
}

/// One element of the page, with what the analysis found about it.
pub(super) struct El<'a> {
    pub node: NodeRef<'a, Node>,
    pub parent: u32,
    pub tag: &'a str,
    pub name: NameRule,
    pub tier: u8,
    /// An `<article>` or tier-1 body is this element or an ancestor.
    pub in_article: bool,
    /// Text of which this element is the nearest block ancestor (its own paragraph text).
    pub own: u32,
    pub own_link: u32,
    pub commas: u32,
    /// Text directly inside (text nodes that are children), for the subtree sums.
    pub direct: u32,
    pub direct_link: u32,
    /// Subtree sums: all text, link text, paragraph text ("good": own text of block elements
    /// that are real paragraphs, not link lists).
    pub text: u32,
    pub link: u32,
    pub good: u32,
    /// The same sums without chrome subtrees.
    pub ctext: u32,
    pub clink: u32,
    pub cgood: u32,
    /// A tier-1 body is this element or a descendant.
    pub holds_body: bool,
    /// This element is chrome; `in_chrome`: it or an ancestor is.
    pub chrome: bool,
    pub in_chrome: bool,
}

impl El<'_> {
    /// Whether this element's own text is a paragraph of prose rather than a link or a label.
    fn own_is_paragraph(&self) -> bool {
        self.own >= MIN_PARAGRAPH && self.own_link * 2 < self.own
    }
}

/// The analysed page.
pub(super) struct Analysis<'a> {
    pub els: Vec<El<'a>>,
    pub index: FxHashMap<NodeId, u32>,
    pub body: u32,
}

struct Builder<'a> {
    els: Vec<El<'a>>,
    index: FxHashMap<NodeId, u32>,
    /// Open elements: (index, block owner, inside a link, inside an article).
    stack: Vec<(u32, u32, bool, bool)>,
}

impl<'a> Visitor<'a> for Builder<'a> {
    fn enter(&mut self, node: NodeRef<'a, Node>) -> bool {
        match node.value() {
            Node::Text(t) => {
                if let Some(&(el, owner, in_link, _)) = self.stack.last() {
                    let (chars, commas) = measure(t);
                    let link = if in_link { chars } else { 0 };
                    let e = &mut self.els[el as usize];
                    e.direct += chars;
                    e.direct_link += link;
                    let o = &mut self.els[owner as usize];
                    o.own += chars;
                    o.own_link += link;
                    o.commas += commas;
                }
                false
            }
            Node::Element(e) => {
                let tag = e.name();
                if rules::SKIP_TAGS.contains(&tag)
                    || e.attr("hidden").is_some()
                    || e.attr("aria-hidden").is_some_and(|v| v.eq_ignore_ascii_case("true"))
                    || e.attr("style").is_some_and(rules::hidden_style)
                    || e.attr("class").is_some_and(rules::hidden_class)
                {
                    return false;
                }
                let idx = self.els.len() as u32;
                let (parent, parent_owner, parent_link, parent_article) =
                    self.stack.last().copied().unwrap_or((NONE, idx, false, false));
                let owner = if rules::is_block(tag) { idx } else { parent_owner };
                let (class, id) = (e.attr("class"), e.id());
                let tier = rules::body_tier(tag, class, id, e.attr("itemprop"), e.attr("role"));
                let in_article = parent_article || tier == 1 || tag == "article";
                let name = if tag == "html" || tag == "body" {
                    NameRule::Neutral
                } else {
                    rules::name_rule(class, id)
                };
                self.els.push(El {
                    node,
                    parent,
                    tag,
                    name,
                    tier,
                    in_article,
                    own: 0,
                    own_link: 0,
                    commas: 0,
                    direct: 0,
                    direct_link: 0,
                    text: 0,
                    link: 0,
                    good: 0,
                    ctext: 0,
                    clink: 0,
                    cgood: 0,
                    holds_body: tier == 1,
                    chrome: false,
                    in_chrome: false,
                });
                self.index.insert(node.id(), idx);
                self.stack.push((idx, owner, parent_link || tag == "a", in_article));
                true
            }
            _ => false,
        }
    }

    fn leave(&mut self, node: NodeRef<'a, Node>) {
        if node.value().is_element() {
            self.stack.pop();
        }
    }
}

/// Analyses a parsed page: one walk to list the elements, then passes over that list (children
/// come after their parent, so a reverse pass sees every child before its parent).
pub(super) fn analyse<'a>(root: NodeRef<'a, Node>) -> Analysis<'a> {
    let mut b = Builder { els: Vec::new(), index: FxHashMap::default(), stack: Vec::new() };
    walk(root, &mut b);
    let mut els = b.els;
    // Subtree sums.
    for i in (0..els.len()).rev() {
        let e = &mut els[i];
        e.text += e.direct;
        e.link += e.direct_link;
        if e.own_is_paragraph() {
            e.good += e.own;
        }
        let (p, text, link, good, holds) = (e.parent, e.text, e.link, e.good, e.holds_body);
        if p != NONE {
            let pe = &mut els[p as usize];
            pe.text += text;
            pe.link += link;
            pe.good += good;
            pe.holds_body |= holds;
        }
    }
    let total_good = els.first().map_or(0, |e| e.good);
    // Chrome decisions and the sums without chrome.
    for i in (0..els.len()).rev() {
        let e = &mut els[i];
        e.ctext += e.direct;
        e.clink += e.direct_link;
        if e.own_is_paragraph() {
            e.cgood += e.own;
        }
        let chrome = is_chrome(e, total_good) || labels_chrome(&els, i, &b.index);
        let e = &mut els[i];
        e.chrome = chrome;
        if !e.chrome && e.parent != NONE {
            let (p, t, l, g) = (e.parent, e.ctext, e.clink, e.cgood);
            let pe = &mut els[p as usize];
            pe.ctext += t;
            pe.clink += l;
            pe.cgood += g;
        }
    }
    for i in 0..els.len() {
        let p = els[i].parent;
        els[i].in_chrome = els[i].chrome || (p != NONE && els[p as usize].in_chrome);
    }
    let body = els.iter().position(|e| e.tag == "body").unwrap_or(0) as u32;
    Analysis { els, index: b.index, body }
}

/// Whether an element is chrome. Its descendants are decided already (their chrome is out of
/// its clean sums). An element that holds a tier-1 article body is never chrome; one that holds
/// most of the page's prose is not either, unless its name says comments (comment threads can
/// outweigh the article).
fn is_chrome(e: &El<'_>, total_good: u32) -> bool {
    if e.holds_body {
        return false;
    }
    let dominant = total_good > 0 && e.good * 2 > total_good;
    if e.name == NameRule::Comments {
        return true;
    }
    if dominant {
        return false;
    }
    if e.name == NameRule::Boiler {
        return true;
    }
    // Forms and headers inside an article are part of it (a product form holding the
    // description, the article's own header with its lead); at page level they are chrome.
    if rules::CHROME_TAGS.contains(&e.tag) && !(e.tag == "form" && e.in_article) {
        return true;
    }
    if e.tag == "header" && !e.in_article {
        return true;
    }
    link_dense(e)
}

/// A label of chrome: a heading whose next element is chrome ("Related articles" over a link
/// list), or a container that lost most of its text to chrome and keeps only a short label.
fn labels_chrome(els: &[El<'_>], i: usize, index: &FxHashMap<NodeId, u32>) -> bool {
    let e = &els[i];
    if e.holds_body {
        return false;
    }
    if matches!(e.tag, "h2" | "h3" | "h4" | "h5" | "h6") && e.ctext < 80 {
        // Its next element is chrome with text of its own (a link list, not an empty ad slot),
        // and no prose follows in the same parent (a mid-article teaser box is not a section
        // end). Looks at a bounded number of siblings.
        let mut siblings =
            e.node.next_siblings().take(64).filter_map(|n| index.get(&n.id()).map(|&i| &els[i as usize]));
        if let Some(next) = siblings.next()
            && next.chrome
            && next.text >= 40
            && siblings.take(16).all(|s| s.chrome || s.cgood == 0)
        {
            return true;
        }
    }
    matches!(e.tag, "div" | "section" | "aside" | "ul" | "li")
        && e.ctext < 80
        && e.text >= 3 * e.ctext
        && e.text - e.ctext > 50
}

/// Link lists (menus, related-article lists, tag clouds): most of the text is link text.
fn link_dense(e: &El<'_>) -> bool {
    if e.ctext == 0 {
        return false;
    }
    let ratio = e.clink as f64 / e.ctext as f64;
    match e.tag {
        "ul" | "ol" | "dl" | "table" | "tbody" | "tr" => ratio > 0.5,
        "div" | "section" | "span" | "p" | "li" | "td" | "center" => ratio > 0.65 && e.cgood < 400,
        _ => false,
    }
}

impl<'a> Analysis<'a> {
    /// The element index of a node, if the node is an element the analysis kept (not a
    /// skipped or hidden one).
    pub fn index_of(&self, node: &NodeRef<'a, Node>) -> Option<u32> {
        self.index.get(&node.id()).copied()
    }

    /// The main block: the roots to take text from, in document order.
    pub fn main_roots(&self) -> Vec<u32> {
        let els = &self.els;
        if els.is_empty() {
            return Vec::new();
        }
        let (readable, readable_good) = self.readability();
        // The best marked body: the first tier that has one with prose in it.
        let mut marked: Option<u32> = None;
        for tier in 1..=4 {
            let best = (0..els.len() as u32)
                .filter(|&i| {
                    let e = &els[i as usize];
                    e.tier == tier && !e.in_chrome
                })
                .max_by_key(|&i| els[i as usize].cgood);
            if let Some(b) = best
                && els[b as usize].cgood >= 150
            {
                marked = Some(b);
                break;
            }
        }
        match marked {
            // A marked body wins unless the readability block is much bigger and elsewhere
            // (a marked teaser or summary box, the real text in an unmarked container).
            Some(m) => {
                let mg = els[m as usize].cgood;
                let inside = readable.iter().all(|&r| self.is_ancestor(m, r) || self.is_ancestor(r, m));
                if inside || mg * 3 >= readable_good {
                    match self.enclosing_article(m) {
                        Some(a) => vec![a],
                        None => self.with_same_tier_siblings(m),
                    }
                } else {
                    readable
                }
            }
            None if !readable.is_empty() => readable,
            None => vec![self.body],
        }
    }

    /// The `<article>` around a marked body `m`, when it adds little prose: the lead paragraph
    /// and subtitle sit in the article's header, outside the body container, and are text.
    /// Looked for a few levels up only.
    fn enclosing_article(&self, m: u32) -> Option<u32> {
        let els = &self.els;
        let me = &els[m as usize];
        if me.tier != 1 {
            return None;
        }
        let mut cur = me.parent;
        for _ in 0..4 {
            if cur == NONE {
                return None;
            }
            let e = &els[cur as usize];
            if e.in_chrome {
                return None;
            }
            if e.tag == "article" {
                let limit = me.cgood + me.cgood / 3 + 300;
                return (e.cgood <= limit).then_some(cur);
            }
            cur = e.parent;
        }
        None
    }

    /// The nearest ancestor-or-self of `i` with at least `good` characters of prose outside
    /// chrome (the body at most). Walks up at most the depth of the tree, once per page.
    pub fn widen(&self, i: u32, good: usize) -> u32 {
        let mut cur = i;
        loop {
            let e = &self.els[cur as usize];
            if e.cgood as usize >= good || cur == self.body || e.parent == NONE {
                return cur;
            }
            cur = e.parent;
        }
    }

    /// `m` with its siblings of the same body tier that hold prose: a body split by ad slots
    /// into several `article-body` blocks, a recipe in several `<article>`s.
    fn with_same_tier_siblings(&self, m: u32) -> Vec<u32> {
        let els = &self.els;
        let (tier, parent) = (els[m as usize].tier, els[m as usize].parent);
        if parent == NONE {
            return vec![m];
        }
        els[parent as usize]
            .node
            .children()
            .filter_map(|c| self.index_of(&c))
            .filter(|&c| {
                let e = &els[c as usize];
                c == m || (e.tier == tier && !e.chrome && e.cgood > 0)
            })
            .collect()
    }

    /// Whether `a` is `b` or an ancestor of it. Walks up from `b`: at most the depth of the
    /// tree, called a bounded number of times.
    fn is_ancestor(&self, a: u32, b: u32) -> bool {
        let mut cur = b;
        while cur != NONE {
            if cur == a {
                return true;
            }
            if cur < a {
                return false;
            }
            cur = self.els[cur as usize].parent;
        }
        false
    }

    /// The readability choice: paragraphs vote for their parent (fully) and grandparent
    /// (half); the best-scoring container, discounted by its link density, is taken with the
    /// siblings that score well or are paragraphs themselves. Returns the roots and their
    /// paragraph text.
    fn readability(&self) -> (Vec<u32>, u32) {
        let els = &self.els;
        let mut scores = vec![0f32; els.len()];
        for (i, e) in els.iter().enumerate() {
            if e.in_chrome || !e.own_is_paragraph() {
                continue;
            }
            let s = 1.0 + e.commas.min(30) as f32 + (e.own as f32 / 100.0).min(3.0);
            let p = e.parent;
            if p == NONE {
                scores[i] += s;
                continue;
            }
            scores[p as usize] += s;
            let gp = els[p as usize].parent;
            if gp != NONE {
                scores[gp as usize] += s / 2.0;
            }
        }
        let adjusted = |i: usize| -> f32 {
            let e = &els[i];
            if scores[i] <= 0.0 || e.in_chrome {
                return 0.0;
            }
            let density = if e.ctext == 0 { 0.0 } else { e.clink as f32 / e.ctext as f32 };
            let bonus = match e.tier {
                1 => 25.0,
                2 | 3 => 10.0,
                _ => 0.0,
            };
            (scores[i] + bonus) * (1.0 - density)
        };
        let Some(best) = (0..els.len()).max_by(|&a, &b| adjusted(a).total_cmp(&adjusted(b))) else {
            return (Vec::new(), 0);
        };
        let top = adjusted(best);
        if top <= 0.0 {
            return (Vec::new(), 0);
        }
        let parent = els[best].parent;
        if parent == NONE {
            return (vec![best as u32], els[best].cgood);
        }
        // Siblings that belong to the same text.
        // Readability's threshold (a fifth of the best, at least 10), halved for short pages.
        let threshold = (top * 0.2).max((top * 0.5).min(10.0));
        let mut roots = Vec::new();
        let mut good = 0;
        for child in els[parent as usize].node.children() {
            let Some(c) = self.index_of(&child) else { continue };
            let e = &els[c as usize];
            let keep = c as usize == best
                || (!e.chrome
                    && (adjusted(c as usize) >= threshold
                        || (e.own >= 80 && e.own_link * 4 < e.own && e.ctext <= e.own + e.own / 2)));
            if keep {
                roots.push(c);
                good += e.cgood;
            }
        }
        (roots, good)
    }
}
