//! Finding the article in a page full of boilerplate.
//!
//! One walk over the body cuts the visible text into *blocks* (the runs of inline text
//! between block-level boundaries), remembering for each its enclosing block element, how
//! much of it is link text, and whether it sits inside something that is boilerplate by
//! nature (`<nav>`, `<aside>`, a page-level `<footer>`, `role=navigation`) or by name
//! (`class="share-buttons"`, `id="comments"`, …).
//!
//! The article is then the element whose subtree holds the most prose and the least
//! boilerplate: every prose block adds its weight to all its ancestors, every link list or
//! boilerplate block adds a penalty, and the element with the best balance wins. Picking a
//! *container* rather than individual blocks keeps the article's short paragraphs (a one-line
//! quote, a sub-heading) that a per-block classifier would drop, and leaves out the ticker,
//! the "most read" lists and the comments that surround it. Inside the container, blocks that
//! are themselves boilerplate or link lists ("Lire aussi : …") are still removed.
//!
//! Names of classes and ids are a hint, not a verdict: a page whose wrapper is called
//! `widget Blog` would otherwise lose everything, so the container is also chosen from the
//! tag-based evidence alone, and that choice wins when the two disagree.
//!
//! News pages add one strong signal: the headline. The article is the text that follows
//! it, so blocks before it are dropped, the container must hold the first paragraph under
//! it, and a long stretch of boilerplate after the story (tags, share buttons, related
//! links, comments) ends it before a too-wide container reaches the next stories. Streams
//! of teasers (a linked heading over a short excerpt, again and again) look like prose to
//! every other test and are recognised by that repetition.

use std::ops::Range;

use html5ever::{LocalName, local_name};

use crate::dom::{Dom, Element, NodeData, NodeId};

/// A prose block needs this many weighted characters to count fully.
const PROSE_UNITS: u32 = 60;
/// Blocks with a larger share of link text are navigation, not prose.
const MAX_LINK_DENSITY: f32 = 0.5;
/// How much one unit of boilerplate costs a candidate container, against one unit of prose.
const BOILERPLATE_COST: f32 = 0.4;
/// The headline joins the text when at most this many blocks separate it from the article.
const HEADLINE_GAP: usize = 8;
/// Anchor text is cut at this many bytes (a whole teaser paragraph is not a link label).
const MAX_ANCHOR_TEXT: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Heading(u8),
    Paragraph,
    ListItem,
    Cell,
    Other,
}

#[derive(Debug)]
pub struct Block {
    /// The nearest block-level element around the text.
    pub node: NodeId,
    pub kind: BlockKind,
    /// The block's text (whitespace collapsed) in [`Blocks::text`].
    pub range: Range<usize>,
    /// Characters, with CJK ideographs counted as several (one carries about a word).
    pub units: u32,
    pub link_units: u32,
    /// Inside an element that is boilerplate by tag or role.
    tag_junk: bool,
    /// The innermost enclosing element whose class or id names a widget.
    named_junk: Option<NodeId>,
    /// An excerpt under a linked headline, in a list of such (a stream of teasers).
    teaser: bool,
}

impl Block {
    fn link_density(&self) -> f32 {
        self.link_units as f32 / self.units.max(1) as f32
    }
}

/// An `<a>` or `<area>` seen in the body.
#[derive(Debug)]
pub struct Anchor {
    pub node: NodeId,
    /// Index of the block the anchor's text belongs to (may equal `blocks.len()` when it has none).
    pub block: usize,
    pub text: String,
}

/// The body, cut into blocks.
#[derive(Debug, Default)]
pub struct Blocks {
    pub text: String,
    pub blocks: Vec<Block>,
    pub anchors: Vec<Anchor>,
}

impl Blocks {
    pub fn text(&self, block: &Block) -> &str {
        &self.text[block.range.clone()]
    }
}

/// The selected article.
#[derive(Debug)]
pub struct Article {
    /// The element chosen as the article container.
    pub container: NodeId,
    /// Which blocks make up the article text, by index into [`Blocks::blocks`].
    pub kept: Vec<bool>,
}

impl Article {
    /// The article text: kept blocks, one per line.
    pub fn text(&self, blocks: &Blocks) -> String {
        let mut out = String::new();
        for (block, _) in blocks.blocks.iter().zip(&self.kept).filter(|(_, kept)| **kept) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(blocks.text(block));
        }
        out
    }
}

/// Cuts the subtree under `root` into blocks.
pub fn blocks(dom: &Dom, root: NodeId) -> Blocks {
    let mut walk = Walk {
        dom,
        out: Blocks::default(),
        open: Vec::new(),
        para: Para::default(),
        link: None,
        link_leaves_page: false,
        tag_junk: 0,
        named_junk: Vec::new(),
        landmark: 0,
    };
    walk.run(root);
    mark_teasers(&mut walk.out.blocks);
    walk.out
}

/// Marks teaser excerpts: a short paragraph right under a heading that links to another
/// page, when the pattern repeats nearby. One "Read also: <link>" before a paragraph is not
/// a stream.
fn mark_teasers(blocks: &mut [Block]) {
    const REPEAT_WITHIN: usize = 4;
    let headline_link = |b: &Block| {
        matches!(b.kind, BlockKind::Heading(_)) && b.link_density() > MAX_LINK_DENSITY && b.units < 200
    };
    // Excerpts are a sentence or two; the long paragraphs under linked headings of a
    // listicle ("“RIGS” ($50)" then a review) are the article.
    let excerpt = |b: &Block| b.link_density() <= MAX_LINK_DENSITY && (40..=320).contains(&b.units);
    let candidates: Vec<usize> = (1..blocks.len())
        .filter(|&i| {
            excerpt(&blocks[i])
                && (headline_link(&blocks[i - 1])
                    || (i >= 2 && blocks[i - 1].units < 30 && headline_link(&blocks[i - 2])))
        })
        .collect();
    for (n, &i) in candidates.iter().enumerate() {
        let near = |j: Option<&usize>| j.is_some_and(|&j| j.abs_diff(i) <= REPEAT_WITHIN);
        if near(n.checked_sub(1).and_then(|p| candidates.get(p))) || near(candidates.get(n + 1)) {
            blocks[i].teaser = true;
        }
    }
}

/// Picks the article container and the blocks to keep.
///
/// The container is chosen twice: once trusting every hint, once trusting tags and roles
/// only. When the first choice lies within the second, the names did their job (they cut
/// the comments off the story) and it stands; otherwise a name hid the article (Blogger's
/// `<div class="widget Blog">` around the post) and the tag-only choice wins. Either way,
/// a named widget *inside* the container is still left out.
///
/// A headline anchors the choice: the article is the prose that follows it. When the
/// container holds none of that prose (a list of teasers with longer excerpts than a short
/// story, say), the container is chosen again among the ancestors of the first paragraph
/// after the headline, counting text by how close it sits to each candidate.
pub fn select(dom: &Dom, blocks: &Blocks, root: NodeId, headline: Option<NodeId>) -> Article {
    let strict = best_container(dom, blocks, root, true);
    let tags_only = best_container(dom, blocks, root, false);
    let related = |a: NodeId, b: NodeId| a == b || dom.ancestors(a).any(|x| x == b);
    let mut container = if related(strict, tags_only) { strict } else { tags_only };
    // The first paragraph under the headline, even inside an element whose name looks
    // like a widget (`<div class="widget__body">`) if that element holds several
    // paragraphs: it is then the article.
    let paragraphs_in = |name: NodeId| {
        let paragraph = |b: &&Block| b.units >= PROSE_UNITS && b.link_density() <= MAX_LINK_DENSITY;
        blocks.blocks.iter().filter(|b| b.named_junk == Some(name)).filter(paragraph).count()
    };
    let first = headline.and_then(|h| {
        let plain = first_paragraph_after(dom, blocks, h, false);
        let named = first_paragraph_after(dom, blocks, h, true)
            .filter(|&n| blocks.blocks[n].named_junk.is_some_and(|name| paragraphs_in(name) >= 3));
        named.filter(|&n| plain.is_none_or(|p| n < p)).or(plain)
    });
    let misnamed = first.and_then(|f| blocks.blocks[f].named_junk).or_else(|| {
        // Without a headline to go by: a container whose text all sits in one "widget"
        // (a banner slot left unclosed around the story) has that widget for article.
        let mut names: Vec<(NodeId, usize)> = Vec::new();
        for block in blocks.blocks.iter().filter(|b| related(b.node, container)) {
            let Some(name) = block.named_junk.filter(|_| !block.tag_junk && block.units >= PROSE_UNITS)
            else {
                continue;
            };
            match names.iter_mut().find(|(n, _)| *n == name) {
                Some((_, count)) => *count += 1,
                None => names.push((name, 1)),
            }
        }
        let unnamed = blocks
            .blocks
            .iter()
            .filter(|b| related(b.node, container) && !is_boilerplate(b) && b.units >= PROSE_UNITS)
            .count();
        names
            .into_iter()
            .filter(|&(_, count)| count >= 3 && unnamed == 0)
            .max_by_key(|&(_, count)| count)
            .map(|(n, _)| n)
    });
    if let Some(first) = first
        && !related(blocks.blocks[first].node, container)
    {
        container = closest_container(dom, blocks, blocks.blocks[first].node, root);
    }
    let mut kept: Vec<bool> = blocks
        .blocks
        .iter()
        .map(|block| {
            let inside = |id: NodeId| id != container && related(id, container) && Some(id) != misnamed;
            !block.tag_junk
                && !block.teaser
                && !block.named_junk.is_some_and(inside)
                && block.link_density() <= MAX_LINK_DENSITY
                && related(block.node, container)
        })
        .collect();
    let headline_block = headline.and_then(|h| block_of(dom, blocks, h));
    if let Some(h) = headline_block.filter(|&h| kept[h..].iter().any(|&k| k)) {
        // Nothing before the headline is its article (teasers above it in the same column).
        kept[..h].iter_mut().for_each(|k| *k = false);
    }
    cut_after_trailing_boilerplate(blocks, &mut kept);
    cut_at_comments_label(blocks, &mut kept);
    // The headline heads the text even when it sits outside the container, just above it,
    // and so do the standfirst, the dateline and the lead photo's caption between them (not
    // the byline or the share buttons).
    if let Some(h) = headline_block
        && let Some(first) = kept[h + 1..]
            .iter()
            .position(|&k| k)
            .map(|p| h + 1 + p)
            .filter(|&first| first - h <= HEADLINE_GAP)
    {
        kept[h] = true;
        for (i, block) in blocks.blocks.iter().enumerate().take(first).skip(h + 1) {
            let standfirst = block.units >= PROSE_UNITS && !is_boilerplate(block);
            let caption = !block.tag_junk && in_figure(dom, block.node);
            let dateline = !is_boilerplate(block) && is_dateline(block, blocks.text(block));
            kept[i] = standfirst || caption || dateline;
        }
    }
    Article { container, kept }
}

/// Ends the article where a long stretch of boilerplate follows it: tags, share buttons,
/// comments and "related" lists, after which a container that was chosen too wide
/// (a column with teasers below the story) would go on with other stories.
fn cut_after_trailing_boilerplate(blocks: &Blocks, kept: &mut [bool]) {
    /// A kept block this long is article text and resets the stretch.
    const TEXT_UNITS: u32 = 30;
    /// The stretch must be this long, and at least ¾ as long as the text before it.
    const MIN_STRETCH: u32 = 400;
    let mut text = 0u32;
    let mut stretch = 0u32;
    let mut stretch_start = None;
    for (i, block) in blocks.blocks.iter().enumerate() {
        if kept[i] && block.units >= TEXT_UNITS {
            if text >= PROSE_UNITS * 2 && stretch >= MIN_STRETCH.max(text * 3 / 4) {
                let start = stretch_start.unwrap_or(i);
                kept[start..].iter_mut().for_each(|k| *k = false);
                return;
            }
            text += block.units;
            stretch = 0;
            stretch_start = None;
        } else if !kept[i] && text > 0 && is_boilerplate(block) {
            stretch += block.units;
            stretch_start.get_or_insert(i);
        }
    }
}

/// Ends the article at a label that opens the reader comments ("13 Comment(s)",
/// "Commentaires (2)", "Комментарии", "Add a comment") when the comments themselves carry no
/// class or id that says so. Only after several paragraphs: near the headline, such a label
/// is a link to the comments in the byline.
fn cut_at_comments_label(blocks: &Blocks, kept: &mut [bool]) {
    const MAX_LABEL_UNITS: u32 = 40;
    const PARAGRAPHS_BEFORE: usize = 4;
    let mut paragraphs = 0;
    for (i, block) in blocks.blocks.iter().enumerate() {
        if paragraphs >= PARAGRAPHS_BEFORE
            && block.units <= MAX_LABEL_UNITS
            && is_comments_label(blocks.text(block))
        {
            kept[i..].iter_mut().for_each(|k| *k = false);
            return;
        }
        if kept[i] && block.units >= PROSE_UNITS {
            paragraphs += 1;
        }
    }
}

/// A label (not a sentence) naming comments, in the languages we crawl.
fn is_comments_label(text: &str) -> bool {
    const WORDS: &[&str] = &[
        "comment",
        "commentaire",
        "comentario",
        "kommentar",
        "komentarz",
        "коммент",
        "коментар",
        "σχόλι",
        "تعليق",
        "评论",
        "評論",
        "留言",
        "コメント",
    ];
    if is_sentence(text) {
        return false;
    }
    let lower = text.to_lowercase();
    WORDS.iter().any(|w| lower.contains(w))
}

/// A short line that is mostly a date and time ("2019年4月4日", "17/01/2012 08:30").
fn is_dateline(block: &Block, text: &str) -> bool {
    const MAX_UNITS: u32 = 40;
    const MIN_DIGITS: usize = 6;
    block.units <= MAX_UNITS && text.chars().filter(char::is_ascii_digit).count() >= MIN_DIGITS
}

fn in_figure(dom: &Dom, node: NodeId) -> bool {
    std::iter::once(node).chain(dom.ancestors(node)).take(6).any(|id| {
        dom.element(id).is_some_and(|e| e.is(&local_name!("figure")) || e.is(&local_name!("figcaption")))
    })
}

fn is_sentence(text: &str) -> bool {
    text.ends_with(['.', '!', '?', '"', '»', '”', '。', '！', '？', '…'])
}

fn is_boilerplate(block: &Block) -> bool {
    block.tag_junk || block.teaser || block.named_junk.is_some() || block.link_density() > MAX_LINK_DENSITY
}

/// Index of the first block inside `element`.
fn block_of(dom: &Dom, blocks: &Blocks, element: NodeId) -> Option<usize> {
    blocks.blocks.iter().position(|b| b.node == element || dom.ancestors(b.node).any(|a| a == element))
}

/// Index of the first prose paragraph after the headline element (within a short distance).
/// With `despite_names`, a long paragraph inside an element whose name looks like a widget
/// also counts.
fn first_paragraph_after(dom: &Dom, blocks: &Blocks, headline: NodeId, despite_names: bool) -> Option<usize> {
    const LOOK_AHEAD: usize = 40;
    let in_headline = |b: &Block| b.node == headline || dom.ancestors(b.node).any(|a| a == headline);
    let paragraph = |b: &Block| {
        if despite_names && b.named_junk.is_some() {
            !b.tag_junk && !b.teaser && b.link_density() <= MAX_LINK_DENSITY && b.units >= PROSE_UNITS * 2
        } else {
            // A paragraph, not a dateline: long, or a sentence.
            !is_boilerplate(b)
                && (b.units >= PROSE_UNITS * 2 || (b.units >= PROSE_UNITS && is_sentence(blocks.text(b))))
        }
    };
    let start = block_of(dom, blocks, headline)?;
    blocks.blocks[start + 1..]
        .iter()
        .take(LOOK_AHEAD)
        .position(|b| paragraph(b) && !in_headline(b))
        .map(|offset| start + 1 + offset)
}

/// The ancestor of `anchor` where prose is densest, text counting less the further it is
/// nested below the candidate (1 for its children, ¼ two levels down, …), so that a
/// distant list of teasers does not pull the choice up to a page-wide wrapper.
fn closest_container(dom: &Dom, blocks: &Blocks, anchor: NodeId, root: NodeId) -> NodeId {
    let chain: Vec<NodeId> = std::iter::once(anchor)
        .chain(dom.ancestors(anchor).take_while(|&a| a != root))
        .chain(std::iter::once(root))
        .collect();
    let mut on_chain = vec![usize::MAX; dom.nodes.len()];
    for (level, id) in chain.iter().enumerate() {
        on_chain[id.index()] = level;
    }
    let mut score = vec![0f32; chain.len()];
    for block in &blocks.blocks {
        let (good, bad) = block_value(block, blocks.text(block), block.tag_junk || block.teaser);
        if good == 0.0 && bad == 0.0 {
            continue;
        }
        let mut at = Some(block.node);
        let mut distance = 0f32;
        while let Some(id) = at {
            if let Some(level) = on_chain.get(id.index()).copied().filter(|&l| l != usize::MAX) {
                let weight = 1.0 / distance.max(1.0).powi(2);
                score[level] += weight * (good - BOILERPLATE_COST * bad);
            }
            if id == root {
                break;
            }
            distance += 1.0;
            at = dom.node(id).parent;
        }
    }
    let best = score.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(chain.len() - 1, |(i, _)| i);
    chain[best]
}

/// The element with the best balance of prose over boilerplate.
fn best_container(dom: &Dom, blocks: &Blocks, root: NodeId, trust_names: bool) -> NodeId {
    let mut good = vec![0f32; dom.nodes.len()];
    let mut bad = vec![0f32; dom.nodes.len()];
    for block in &blocks.blocks {
        let junk = block.tag_junk || block.teaser || (trust_names && block.named_junk.is_some());
        let (g, b) = block_value(block, blocks.text(block), junk);
        if g == 0.0 && b == 0.0 {
            continue;
        }
        let mut at = Some(block.node);
        while let Some(id) = at {
            good[id.index()] += g;
            bad[id.index()] += b;
            if id == root {
                break;
            }
            at = dom.node(id).parent;
        }
    }
    let mut container = root;
    let mut best = f32::MIN;
    for (index, (&g, &b)) in good.iter().zip(&bad).enumerate() {
        let score = g - BOILERPLATE_COST * b;
        if g > 0.0 && score > best {
            best = score;
            container = NodeId::from_index(index);
        }
    }
    container
}

/// (prose weight, boilerplate weight) of one block.
fn block_value(block: &Block, text: &str, junk: bool) -> (f32, f32) {
    let units = block.units as f32;
    if junk || block.link_density() > MAX_LINK_DENSITY {
        return (0.0, units);
    }
    let prose = (block.units - block.link_units) as f32;
    // A short line is prose when it is a sentence ("He resigned."), a label otherwise
    // ("Share", "Advertisement", "12 comments").
    let sentence = is_sentence(text);
    match block.kind {
        BlockKind::Heading(_) => (0.0, 0.0),
        _ if block.units >= PROSE_UNITS => (prose, 0.0),
        _ if sentence => (prose * 0.5, 0.0),
        _ => (0.0, units * 0.25),
    }
}

#[derive(Default)]
struct Para {
    start: usize,
    units: u32,
    link_units: u32,
    space: bool,
}

/// What entering an element changed, to undo on leaving it.
#[derive(Clone, Copy)]
struct Entered {
    block: bool,
    junk: Option<Junk>,
    landmark: bool,
    link: bool,
}

enum Step {
    Enter(NodeId),
    Leave(Entered),
}

struct Walk<'d> {
    dom: &'d Dom,
    out: Blocks,
    /// Open block-level elements, innermost last.
    open: Vec<(NodeId, BlockKind)>,
    para: Para,
    /// The anchor being read, as an index into `out.anchors`.
    link: Option<usize>,
    /// Whether that anchor counts as a link (a `#section` link or a named anchor is part
    /// of the text, not navigation).
    link_leaves_page: bool,
    /// How many elements that are boilerplate by tag or role enclose the position.
    tag_junk: u32,
    /// Enclosing elements whose class or id names a widget, innermost last.
    named_junk: Vec<NodeId>,
    /// How many `<article>`/`<main>` elements enclose it (a `<header>` there is the article's).
    landmark: u32,
}

impl Walk<'_> {
    fn run(&mut self, root: NodeId) {
        self.open.push((root, BlockKind::Other));
        let mut stack = vec![Step::Enter(root)];
        while let Some(step) = stack.pop() {
            match step {
                Step::Enter(id) => match &self.dom.node(id).data {
                    NodeData::Text(text) => self.push_text(text),
                    NodeData::Element(element) => {
                        let Some(entered) = self.enter(id, element) else {
                            continue;
                        };
                        stack.push(Step::Leave(entered));
                        let mut child = self.dom.node(id).last_child;
                        while let Some(c) = child {
                            stack.push(Step::Enter(c));
                            child = self.dom.node(c).prev_sibling;
                        }
                    }
                    _ => {}
                },
                Step::Leave(entered) => {
                    if entered.block || entered.junk.is_some() {
                        self.flush();
                    }
                    if entered.block {
                        self.open.pop();
                    }
                    match entered.junk {
                        Some(Junk::Tag) => self.tag_junk -= 1,
                        Some(Junk::Name) => {
                            self.named_junk.pop();
                        }
                        None => {}
                    }
                    if entered.landmark {
                        self.landmark -= 1;
                    }
                    if entered.link {
                        self.link = None;
                    }
                }
            }
        }
        self.flush();
    }

    /// Returns `None` when the element's subtree is not visible text at all.
    fn enter(&mut self, id: NodeId, element: &Element) -> Option<Entered> {
        if element.math {
            // A formula reads as inline text.
            return Some(Entered { block: false, junk: None, landmark: false, link: false });
        }
        if !element.html || is_invisible(element) {
            return None;
        }
        let name = &element.name;
        if *name == local_name!("hr") {
            self.flush();
            return None;
        }
        if *name == local_name!("br") {
            // One <br> breaks a line within the paragraph (a standfirst set in short lines);
            // two in a row end the paragraph, as old table layouts use them.
            if self.para.units > 0 && self.out.text.ends_with('\n') {
                self.out.text.pop();
                self.flush();
            } else if self.para.units > 0 {
                self.out.text.push('\n');
                self.para.space = false;
            }
            return None;
        }
        let kind = block_kind(name);
        let landmark = *name == local_name!("article") || *name == local_name!("main");
        let junk = junk_kind(element, self.landmark > 0);
        let link = (*name == local_name!("a") || *name == local_name!("area")) && self.link.is_none();
        // A boilerplate element is a boundary even when inline, so that its text
        // ("<span class=share>Share</span>") does not merge into a prose block.
        if kind.is_some() || junk.is_some() {
            self.flush();
        }
        if let Some(kind) = kind {
            self.open.push((id, kind));
        }
        match junk {
            Some(Junk::Tag) => self.tag_junk += 1,
            Some(Junk::Name) => self.named_junk.push(id),
            None => {}
        }
        if landmark {
            self.landmark += 1;
        }
        if link {
            self.link = Some(self.out.anchors.len());
            // `#section` points into this page (a table of contents, a permalink); a bare
            // `#`, a `#!route` or `javascript:` drives a widget and counts as a link.
            self.link_leaves_page = element.attr("href").is_some_and(|href| {
                let fragment = href.trim().strip_prefix('#');
                !fragment.is_some_and(|f| !f.is_empty() && !f.starts_with('!'))
            });
            self.out.anchors.push(Anchor { node: id, block: self.out.blocks.len(), text: String::new() });
        }
        Some(Entered { block: kind.is_some(), junk, landmark, link })
    }

    fn push_text(&mut self, text: &str) {
        // Whitespace separates words; its absence glues a word to the previous inline
        // element's ("Pa<b>ris</b>" is one word).
        let mut space = self.para.space || text.starts_with(char::is_whitespace);
        let mut any = false;
        for word in text.split_whitespace() {
            any = true;
            if self.para.units > 0 && space && !self.out.text.ends_with('\n') {
                self.out.text.push(' ');
            }
            self.out.text.push_str(word);
            let units = word.chars().map(char_units).sum::<u32>();
            self.para.units += units;
            if let Some(link) = self.link {
                if self.link_leaves_page {
                    self.para.link_units += units;
                }
                let anchor = &mut self.out.anchors[link].text;
                if anchor.len() < MAX_ANCHOR_TEXT {
                    if space && !anchor.is_empty() {
                        anchor.push(' ');
                    }
                    anchor.push_str(word);
                }
            }
            space = true;
        }
        self.para.space = if any { text.ends_with(char::is_whitespace) } else { space };
    }

    fn flush(&mut self) {
        self.para.space = false;
        if self.para.units > 0 && self.out.text.ends_with('\n') {
            self.out.text.pop();
        }
        if self.para.units > 0 {
            let (node, kind) = *self.open.last().unwrap_or(&(NodeId::DOCUMENT, BlockKind::Other));
            self.out.blocks.push(Block {
                node,
                kind,
                range: self.para.start..self.out.text.len(),
                units: self.para.units,
                link_units: self.para.link_units,
                tag_junk: self.tag_junk > 0,
                named_junk: self.named_junk.last().copied(),
                teaser: false,
            });
        }
        self.para = Para { start: self.out.text.len(), ..Para::default() };
    }
}

/// Weight of one character: ideographs and kana carry about a word each.
fn char_units(c: char) -> u32 {
    match c {
        '\u{3040}'..='\u{30ff}'
        | '\u{3400}'..='\u{4dbf}'
        | '\u{4e00}'..='\u{9fff}'
        | '\u{f900}'..='\u{faff}'
        | '\u{ac00}'..='\u{d7af}' => 3,
        _ => 1,
    }
}

fn block_kind(name: &LocalName) -> Option<BlockKind> {
    Some(match *name {
        local_name!("h1") => BlockKind::Heading(1),
        local_name!("h2") => BlockKind::Heading(2),
        local_name!("h3") => BlockKind::Heading(3),
        local_name!("h4") => BlockKind::Heading(4),
        local_name!("h5") => BlockKind::Heading(5),
        local_name!("h6") => BlockKind::Heading(6),
        local_name!("p") => BlockKind::Paragraph,
        local_name!("li") | local_name!("dd") | local_name!("dt") => BlockKind::ListItem,
        local_name!("td") | local_name!("th") => BlockKind::Cell,
        local_name!("div")
        | local_name!("section")
        | local_name!("article")
        | local_name!("main")
        | local_name!("header")
        | local_name!("footer")
        | local_name!("nav")
        | local_name!("aside")
        | local_name!("blockquote")
        | local_name!("pre")
        | local_name!("ul")
        | local_name!("ol")
        | local_name!("dl")
        | local_name!("table")
        | local_name!("tr")
        | local_name!("tbody")
        | local_name!("thead")
        | local_name!("tfoot")
        | local_name!("caption")
        | local_name!("figure")
        | local_name!("figcaption")
        | local_name!("form")
        | local_name!("fieldset")
        | local_name!("address")
        | local_name!("center")
        | local_name!("body")
        | local_name!("html")
        | local_name!("details")
        | local_name!("summary") => BlockKind::Other,
        _ => return None,
    })
}

/// Elements whose content is never article text: code, styling, embedded media, controls,
/// and anything the page hides.
fn is_invisible(element: &Element) -> bool {
    let hidden_by_tag = matches!(
        element.name,
        local_name!("script")
            | local_name!("style")
            | local_name!("noscript")
            | local_name!("template")
            | local_name!("head")
            | local_name!("title")
            | local_name!("iframe")
            | local_name!("object")
            | local_name!("embed")
            | local_name!("canvas")
            | local_name!("video")
            | local_name!("audio")
            | local_name!("select")
            | local_name!("option")
            | local_name!("button")
            | local_name!("input")
            | local_name!("textarea")
            | local_name!("label")
            | local_name!("datalist")
            | local_name!("dialog")
            | local_name!("img")
            | local_name!("picture")
    );
    hidden_by_tag
        || element.attr("hidden").is_some()
        || element.attr("aria-hidden").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || element.attr("style").is_some_and(hides_by_style)
}

/// `display:none` or `visibility:hidden` in an inline style, whatever the spacing and case.
fn hides_by_style(style: &str) -> bool {
    contains_loosely(style.as_bytes(), b"display:none")
        || contains_loosely(style.as_bytes(), b"visibility:hidden")
}

/// Whether `needle` (lower-case, no spaces) occurs in `haystack` ignoring ASCII case and
/// whitespace.
fn contains_loosely(haystack: &[u8], needle: &[u8]) -> bool {
    (0..haystack.len()).any(|start| {
        let mut rest = haystack[start..].iter().filter(|b| !b.is_ascii_whitespace());
        needle.iter().all(|&n| rest.next().is_some_and(|h| h.to_ascii_lowercase() == n))
    })
}

/// Why an element is boilerplate, if it is.
#[derive(Clone, Copy)]
enum Junk {
    /// By its tag or ARIA role: `<nav>`, `<aside>`, `role=navigation`, …
    Tag,
    /// By the words of its class or id: `share-buttons`, `comments`, …
    Name,
}

fn junk_kind(element: &Element, in_landmark: bool) -> Option<Junk> {
    let by_tag = match element.name {
        local_name!("nav") | local_name!("aside") | local_name!("menu") => true,
        // The page's banner and colophon; inside an article they hold its headline and notes.
        local_name!("header") | local_name!("footer") => !in_landmark,
        _ => element.attr("role").is_some_and(|role| {
            matches!(
                role.trim().to_ascii_lowercase().as_str(),
                "navigation"
                    | "banner"
                    | "contentinfo"
                    | "complementary"
                    | "search"
                    | "menu"
                    | "menubar"
                    | "marquee"
                    | "dialog"
                    | "alert"
            )
        }),
    };
    if by_tag {
        return Some(Junk::Tag);
    }
    // The document's skeleton is never boilerplate, whatever its classes say.
    if matches!(
        element.name,
        local_name!("html") | local_name!("body") | local_name!("article") | local_name!("main")
    ) {
        return None;
    }
    let named = |attr, is_id| element.attr(attr).is_some_and(|v| boilerplate_name(v, is_id));
    (named("class", false) || named("id", true)).then_some(Junk::Name)
}

/// Whether a class or id value names a boilerplate widget ("share-buttons", "commentList").
/// Layout flags that merely mention one ("has-sidebar", "no-ticker") do not count, nor do
/// ids made from a heading ("sharing-with-a-single-developer": hyphenated, several words).
fn boilerplate_name(value: &str, is_id: bool) -> bool {
    const MAX_SLUG_WORDS: usize = 3;
    value.split_ascii_whitespace().any(|class| {
        let words = || class.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty());
        if is_id && !class.contains('_') && words().count() > MAX_SLUG_WORDS {
            return false;
        }
        let mut words = words();
        let Some(first) = words.next() else { return false };
        const FLAGS: &[&str] = &["has", "no", "with", "without", "is", "show", "hide", "enable", "disable"];
        if FLAGS.iter().any(|f| first.eq_ignore_ascii_case(f)) {
            return false;
        }
        std::iter::once(first).chain(words).any(|word| {
            let mut buf = [0u8; 32];
            let Some(lower) = buf.get_mut(..word.len()) else { return false };
            lower.copy_from_slice(word.as_bytes());
            lower.make_ascii_lowercase();
            boilerplate_word(lower)
        })
    })
}

fn boilerplate_word(word: &[u8]) -> bool {
    const EXACT: &[&[u8]] = &[
        b"ad",
        b"ads",
        b"adv",
        b"advert",
        b"nav",
        b"menu",
        b"tags",
        b"tag",
        b"aside",
        b"pager",
        b"pagination",
        b"ticker",
        b"banner",
        b"masthead",
        b"popular",
        b"trending",
        b"mostread",
        b"toolbar",
        b"disqus",
        b"rss",
        b"copyright",
        b"skip",
        b"modal",
        b"popup",
        b"login",
        b"signup",
        b"sponsored",
        b"widget",
        b"widgets",
        b"outbrain",
        b"taboola",
        b"partners",
        b"breadcrumb",
        b"breadcrumbs",
        b"related",
        b"recommended",
        b"footer",
        b"sidebar",
        b"share",
        b"social",
        b"comments",
        b"comment",
        b"newsletter",
        b"cookie",
        b"cookies",
        b"promo",
        b"subscribe",
        b"navbar",
        b"navigation",
        b"readmore",
        b"reactions",
        b"shares",
        b"sharing",
    ];
    // Compounds ("sharebar", "commentlist", "socialicons"): a widget word followed by a
    // word for a piece of layout. A bare prefix test would also catch slugs made from
    // headings ("shared-mutable-history", "commentary").
    const STEMS: &[&[u8]] = &[
        b"comment",
        b"share",
        b"social",
        b"sidebar",
        b"related",
        b"advert",
        b"newsletter",
        b"breadcrumb",
        b"footer",
        b"navbar",
        b"sponsor",
        b"promo",
        b"subscribe",
        b"cookie",
        b"popup",
        b"outbrain",
        b"taboola",
        b"disqus",
        b"nav",
        b"menu",
        b"ad",
        b"tag",
    ];
    const PARTS: &[&[u8]] = &[
        b"s",
        b"bar",
        b"box",
        b"list",
        b"links",
        b"link",
        b"tools",
        b"buttons",
        b"button",
        b"area",
        b"wrapper",
        b"wrap",
        b"container",
        b"section",
        b"block",
        b"widget",
        b"module",
        b"count",
        b"form",
        b"icons",
        b"panel",
        b"items",
        b"thread",
        b"slot",
        b"unit",
        b"banner",
        b"zone",
    ];
    EXACT.contains(&word)
        || STEMS.iter().any(|stem| word.strip_prefix(*stem).is_some_and(|rest| PARTS.contains(&rest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(html: &str) -> String {
        let dom = Dom::parse(html, 256);
        let body = dom.find(NodeId::DOCUMENT, &local_name!("body")).unwrap();
        let blocks = blocks(&dom, body);
        select(&dom, &blocks, body, None).text(&blocks)
    }

    const PROSE: &str = "The committee met on Tuesday to discuss the budget, and after a long debate it agreed to fund the new library.";

    #[test]
    fn keeps_the_article_and_drops_the_chrome() {
        let html = format!(
            "<body><nav><a href=/>Home</a> <a href=/w>World</a></nav>\
             <div class=ticker><ul><li><a href=/1>Headline one is here</a><li><a href=/2>Headline two</a></ul></div>\
             <article><h1>Budget agreed</h1><p>{PROSE}</p><p>{PROSE}</p>\
             <p class=read-also><b>Read also:</b> <a href=/x>A much longer related headline about something else</a></p>\
             <div class=share><a href=/s>Share</a></div><p>Short line.</p></article>\
             <section id=comments><p>{PROSE}</p></section><footer>© 2024 The Paper, all rights reserved</footer>"
        );
        assert_eq!(article(&html), format!("Budget agreed\n{PROSE}\n{PROSE}\nShort line."));
    }

    #[test]
    fn inline_markup_does_not_split_words_and_blocks_do() {
        let html =
            format!("<body><div><p>Pa<b>ris</b> is <i>big</i>.</p><p>{PROSE}<br>Second line here.</p></div>");
        assert_eq!(article(&html), format!("Paris is big.\n{PROSE}\nSecond line here."));
    }

    #[test]
    fn invisible_content_is_never_text() {
        let html = format!(
            "<body><p>{PROSE}<script>var x = 1;</script><style>p {{}}</style><noscript>enable js</noscript>\
             <span hidden>secret</span><span style='DISPLAY: none'>gone</span><template>tpl</template></p>"
        );
        assert_eq!(article(&html), PROSE);
    }

    #[test]
    fn a_misleading_wrapper_class_does_not_lose_the_article() {
        let html = format!("<body><div class='page has-sidebar'><p>{PROSE}</p><p>{PROSE}</p></div>");
        assert_eq!(article(&html), format!("{PROSE}\n{PROSE}"));
    }

    #[test]
    fn unmarked_comments_end_at_their_label() {
        let html = format!(
            "<body><div><p>{PROSE}</p><p>{PROSE}</p><p>{PROSE}</p><p>{PROSE}</p>\
             <div>| 13 Comment(s)</div><p>reader1: {PROSE}</p><p>reader2: {PROSE}</p></div>"
        );
        assert_eq!(article(&html), [PROSE; 4].join("\n"));
        assert!(!is_comments_label("The minister declined to comment."));
    }

    #[test]
    fn boilerplate_names_are_matched_by_word() {
        assert!(boilerplate_name("share-buttons", false));
        assert!(boilerplate_name("commentList", false));
        assert!(boilerplate_name("col sidebar-right", false));
        assert!(!boilerplate_name("health has-no-ticker", false));
        assert!(!boilerplate_name("page no-sidebar", false));
        assert!(!boilerplate_name("article-body", false));
        assert!(!boilerplate_name("shadow header-image", false));
        assert!(!boilerplate_name("navigator-wide", false));
        assert!(boilerplate_name("sharebar socialIcons", false));
        assert!(!boilerplate_name("evolve-shared-mutable-history", true));
        assert!(!boilerplate_name("sharing-with-a-single-developer", true));
        assert!(!boilerplate_name("commentary adamant", false));
        assert!(boilerplate_name("article_related_by_category_and_tag_0", true));
    }
}
