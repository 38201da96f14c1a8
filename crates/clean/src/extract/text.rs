//! The main block to text: paragraphs by block element, chrome subtrees left out, then
//! paragraph-level filtering (link lines).

use ego_tree::NodeRef;
use scraper::Node;

use super::dom::{Analysis, Visitor, measure, walk};
use super::rules;
use crate::html::collapse;

/// One paragraph of output with what filtering needs.
#[derive(Debug)]
pub(super) struct Block {
    pub text: String,
    /// Non-blank characters, and those inside links.
    pub chars: u32,
    pub link_chars: u32,
}

struct Emitter<'a, 'b> {
    analysis: Option<&'b Analysis<'a>>,
    root: u32,
    blocks: Vec<Block>,
    current: String,
    chars: u32,
    link_chars: u32,
    link_depth: u32,
}

impl<'a, 'b> Emitter<'a, 'b> {
    fn new(analysis: Option<&'b Analysis<'a>>) -> Self {
        Self {
            analysis,
            root: 0,
            blocks: Vec::new(),
            current: String::new(),
            chars: 0,
            link_chars: 0,
            link_depth: 0,
        }
    }

    fn end_block(&mut self) {
        let text = collapse(&std::mem::take(&mut self.current));
        if !text.is_empty() {
            self.blocks.push(Block { text, chars: self.chars, link_chars: self.link_chars });
        }
        self.chars = 0;
        self.link_chars = 0;
    }
}

impl<'a> Visitor<'a> for Emitter<'a, '_> {
    fn enter(&mut self, node: NodeRef<'a, Node>) -> bool {
        match node.value() {
            Node::Text(t) => {
                let (chars, _) = measure(t);
                self.chars += chars;
                if self.link_depth > 0 {
                    self.link_chars += chars;
                }
                // Soft hyphens are invisible hyphenation hints, not text.
                if t.contains('\u{ad}') {
                    self.current.extend(t.chars().filter(|&c| c != '\u{ad}'));
                } else {
                    self.current.push_str(t);
                }
                false
            }
            Node::Element(e) => {
                let tag = e.name();
                match self.analysis {
                    // Skipped and hidden elements are not in the analysis; chrome is left out
                    // below the root (the root itself was chosen as content).
                    Some(a) => match a.index_of(&node) {
                        None => return false,
                        Some(i) if i != self.root && a.els[i as usize].chrome => return false,
                        Some(_) => {}
                    },
                    None if rules::SKIP_TAGS.contains(&tag) => return false,
                    None => {}
                }
                if tag == "br" || tag == "hr" {
                    self.end_block();
                    return false;
                }
                if rules::is_block(tag) {
                    self.end_block();
                }
                if tag == "a" {
                    self.link_depth += 1;
                }
                true
            }
            _ => false,
        }
    }

    fn leave(&mut self, node: NodeRef<'a, Node>) {
        if let Node::Element(e) = node.value() {
            let tag = e.name();
            if rules::is_block(tag) {
                self.end_block();
            }
            if tag == "a" {
                self.link_depth = self.link_depth.saturating_sub(1);
            }
        }
    }
}

/// The paragraphs of the chosen roots, chrome left out.
pub(super) fn blocks(analysis: &Analysis<'_>, roots: &[u32]) -> Vec<Block> {
    let mut em = Emitter::new(Some(analysis));
    for &r in roots {
        em.root = r;
        let node = analysis.els[r as usize].node;
        em.end_block();
        walk(node, &mut em);
        em.end_block();
    }
    em.blocks
}

/// The paragraphs of a fragment (JSON-LD `articleBody` with markup), scripts left out.
pub(super) fn fragment_blocks(root: NodeRef<'_, Node>) -> Vec<Block> {
    let mut em = Emitter::new(None);
    walk(root, &mut em);
    em.end_block();
    em.blocks
}

/// Paragraph-level filtering: a paragraph that is mostly link text (a "read more" line, a
/// list of related headlines, a tag line) is not article text.
pub(super) fn keep(b: &Block) -> bool {
    let link_line = b.chars > 0 && b.link_chars * 10 > b.chars * 6;
    !link_line && !dateline(&b.text) && !rules::chrome_label(&b.text)
}

/// A short line that is mostly a date or a time ("16/02/2025 - 1532 views", "05:28 Uhr",
/// "Published 2025-02-16"): page metadata, not article text.
pub(super) fn dateline(text: &str) -> bool {
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if letters > 30 || text.chars().count() > 80 {
        return false;
    }
    // Digit groups and the separator that follows each.
    let mut groups: Vec<(usize, Option<char>)> = Vec::new();
    let mut run = 0;
    for c in text.chars() {
        if c.is_ascii_digit() || ('\u{660}'..='\u{669}').contains(&c) {
            run += 1;
            continue;
        }
        if run > 0 {
            groups.push((run, Some(c)));
            run = 0;
        } else if let Some(last) = groups.last_mut() {
            last.1 = None;
        }
    }
    if run > 0 {
        groups.push((run, None));
    }
    groups.windows(3).any(|w| {
        matches!(w[0].1, Some('.' | '/' | '-'))
            && w[1].1 == w[0].1
            && w[0].0 <= 4
            && w[1].0 <= 2
            && (2..=4).contains(&w[2].0)
    }) || groups.windows(2).any(|w| w[0].1 == Some(':') && w[0].0 <= 2 && w[1].0 == 2)
}
