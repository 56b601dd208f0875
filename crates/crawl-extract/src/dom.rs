//! A compact arena DOM, built by html5ever's tree builder through our own [`TreeSink`].
//!
//! Nodes live in one `Vec` and point at each other by index, so a page costs one growing
//! allocation instead of one `Rc<RefCell<…>>` per node, and walking it is cache-friendly.
//! Two bounds keep hostile markup cheap: elements nested deeper than `max_depth` are attached
//! to their ancestor at that depth instead (the text survives, the nesting does not), and the
//! contents of `<template>` live in a detached fragment that no walk ever visits.
//! Every walk over the tree is iterative, so even a tree whose depth the cap could not see
//! (subtrees re-attached by the tree builder) cannot overflow the stack.
//!
//! The cap in the sink bounds our tree, not html5ever's work: its tree builder checks the
//! stack of open elements on many start tags, so 100,000 nested `<div>`s cost it time
//! quadratic in the nesting (minutes). [`trim_markup`] therefore removes, before parsing,
//! the start and end tags that would open elements beyond the cap. The same scan drops the
//! bodies of scripts and style sheets: they are never text (JSON-LD aside, which is kept),
//! they are often most of a page's bytes, and html5ever would tokenize them character by
//! character.

use std::borrow::Cow;
use std::cell::RefCell;

use html5ever::interface::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::{Attribute, LocalName, ParseOpts, QualName, local_name, ns, parse_document};

/// Index of a node in [`Dom::nodes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(u32);

impl NodeId {
    pub const DOCUMENT: NodeId = NodeId(0);

    pub fn index(self) -> usize {
        self.0 as usize
    }

    pub fn from_index(index: usize) -> NodeId {
        NodeId(u32::try_from(index).expect("node indices fit in u32"))
    }
}

#[derive(Debug)]
pub struct Node {
    pub parent: Option<NodeId>,
    pub first_child: Option<NodeId>,
    pub last_child: Option<NodeId>,
    pub prev_sibling: Option<NodeId>,
    pub next_sibling: Option<NodeId>,
    depth: u32,
    pub data: NodeData,
}

#[derive(Debug)]
pub enum NodeData {
    Document,
    Element(Element),
    Text(StrTendril),
    /// Comments, doctypes, processing instructions: kept as placeholders, never read.
    Other,
}

#[derive(Debug)]
pub struct Element {
    pub name: LocalName,
    /// False for SVG and MathML elements, whose `<title>`/`<a>` are not the HTML ones.
    pub html: bool,
    /// MathML: formulas are text, unlike the rest of the foreign content.
    pub math: bool,
    pub attrs: Vec<Attribute>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|a| &*a.name.local == name).map(|a| &*a.value)
    }

    pub fn is(&self, name: &LocalName) -> bool {
        self.html && self.name == *name
    }
}

/// A parsed page.
#[derive(Debug)]
pub struct Dom {
    pub nodes: Vec<Node>,
}

impl Dom {
    /// Parses `html` (already decoded); `max_depth` bounds element nesting.
    pub fn parse(html: &str, max_depth: usize) -> Dom {
        let sink = Sink {
            dom: RefCell::new(Dom { nodes: Vec::with_capacity(html.len() / 40 + 16) }),
            max_depth: max_depth.clamp(8, u32::MAX as usize) as u32,
            placeholder: QualName::new(None, ns!(html), local_name!("div")),
        };
        sink.dom.borrow_mut().push(NodeData::Document);
        let html = trim_markup(html, max_depth.saturating_mul(2));
        parse_document(sink, ParseOpts::default()).one(&*html)
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub fn element(&self, id: NodeId) -> Option<&Element> {
        match &self.node(id).data {
            NodeData::Element(e) => Some(e),
            _ => None,
        }
    }

    pub fn children(&self, id: NodeId) -> Children<'_> {
        Children { dom: self, next: self.node(id).first_child }
    }

    /// All nodes under `root` (itself included) in document order.
    pub fn descendants(&self, root: NodeId) -> Descendants<'_> {
        Descendants { dom: self, root, next: Some(root) }
    }

    /// The first HTML element called `name` in document order.
    pub fn find(&self, root: NodeId, name: &LocalName) -> Option<NodeId> {
        self.descendants(root).find(|&id| self.element(id).is_some_and(|e| e.is(name)))
    }

    pub fn ancestors(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        std::iter::successors(self.node(id).parent, |&p| self.node(p).parent)
    }

    /// Concatenated text of the subtree, raw (whitespace as in the source).
    pub fn text_of(&self, root: NodeId) -> Cow<'_, str> {
        let mut texts = self.descendants(root).filter_map(|id| match &self.node(id).data {
            NodeData::Text(t) => Some(&**t),
            _ => None,
        });
        let Some(first) = texts.next() else {
            return Cow::Borrowed("");
        };
        match texts.next() {
            None => Cow::Borrowed(first),
            Some(second) => {
                let mut all = String::with_capacity(first.len() + second.len());
                all.push_str(first);
                all.push_str(second);
                texts.for_each(|t| all.push_str(t));
                Cow::Owned(all)
            }
        }
    }

    fn push(&mut self, data: NodeData) -> NodeId {
        let id = NodeId(u32::try_from(self.nodes.len()).expect("pages are capped far below 4G nodes"));
        self.nodes.push(Node {
            parent: None,
            first_child: None,
            last_child: None,
            prev_sibling: None,
            next_sibling: None,
            depth: 0,
            data,
        });
        id
    }

    fn detach(&mut self, id: NodeId) {
        let node = &mut self.nodes[id.index()];
        let (parent, prev, next) = (node.parent.take(), node.prev_sibling.take(), node.next_sibling.take());
        let Some(parent) = parent else { return };
        match prev {
            Some(p) => self.nodes[p.index()].next_sibling = next,
            None => self.nodes[parent.index()].first_child = next,
        }
        match next {
            Some(n) => self.nodes[n.index()].prev_sibling = prev,
            None => self.nodes[parent.index()].last_child = prev,
        }
    }

    /// Appends `child` (detached) as the last child of `parent`.
    fn append_child(&mut self, parent: NodeId, child: NodeId) {
        let last = self.nodes[parent.index()].last_child;
        let depth = self.nodes[parent.index()].depth + 1;
        let node = &mut self.nodes[child.index()];
        node.parent = Some(parent);
        node.prev_sibling = last;
        node.depth = depth;
        match last {
            Some(l) => self.nodes[l.index()].next_sibling = Some(child),
            None => self.nodes[parent.index()].first_child = Some(child),
        }
        self.nodes[parent.index()].last_child = Some(child);
    }

    /// Inserts `child` (detached) just before `sibling`.
    fn insert_before(&mut self, sibling: NodeId, child: NodeId) {
        let Some(parent) = self.nodes[sibling.index()].parent else {
            return;
        };
        let prev = self.nodes[sibling.index()].prev_sibling;
        let depth = self.nodes[sibling.index()].depth;
        let node = &mut self.nodes[child.index()];
        node.parent = Some(parent);
        node.prev_sibling = prev;
        node.next_sibling = Some(sibling);
        node.depth = depth;
        self.nodes[sibling.index()].prev_sibling = Some(child);
        match prev {
            Some(p) => self.nodes[p.index()].next_sibling = Some(child),
            None => self.nodes[parent.index()].first_child = Some(child),
        }
    }

    /// Appends text to `parent`, merging with a text node that ends it.
    fn append_text(&mut self, parent: NodeId, text: StrTendril) {
        if let Some(last) = self.nodes[parent.index()].last_child
            && let NodeData::Text(existing) = &mut self.nodes[last.index()].data
        {
            existing.push_tendril(&text);
            return;
        }
        let id = self.push(NodeData::Text(text));
        self.append_child(parent, id);
    }
}

pub struct Children<'a> {
    dom: &'a Dom,
    next: Option<NodeId>,
}

impl Iterator for Children<'_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        let id = self.next?;
        self.next = self.dom.node(id).next_sibling;
        Some(id)
    }
}

pub struct Descendants<'a> {
    dom: &'a Dom,
    root: NodeId,
    next: Option<NodeId>,
}

impl Iterator for Descendants<'_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        let id = self.next?;
        let node = self.dom.node(id);
        self.next = node.first_child.or_else(|| {
            let mut at = id;
            loop {
                if at == self.root {
                    return None;
                }
                let n = self.dom.node(at);
                if let Some(next) = n.next_sibling {
                    return Some(next);
                }
                at = n.parent?;
            }
        });
        Some(id)
    }
}

/// The handle html5ever holds: the node and, for elements, its name, so that
/// [`TreeSink::elem_name`] can lend a reference without borrowing the arena.
#[derive(Clone)]
pub struct Handle {
    id: NodeId,
    name: Option<QualName>,
}

struct Sink {
    dom: RefCell<Dom>,
    max_depth: u32,
    placeholder: QualName,
}

impl Sink {
    fn handle(&self, id: NodeId) -> Handle {
        Handle { id, name: None }
    }

    /// Where a child of `parent` really goes: `parent`, unless that would nest deeper than
    /// the cap, in which case it goes to `parent`'s parent (so depth never passes the cap).
    fn capped_parent(dom: &Dom, parent: NodeId, max_depth: u32) -> NodeId {
        let node = dom.node(parent);
        match node.parent {
            Some(grandparent) if node.depth >= max_depth => grandparent,
            _ => parent,
        }
    }
}

impl TreeSink for Sink {
    type Handle = Handle;
    type Output = Dom;
    type ElemName<'a> = &'a QualName;

    fn finish(self) -> Dom {
        self.dom.into_inner()
    }

    fn parse_error(&self, _msg: Cow<'static, str>) {}

    fn get_document(&self) -> Handle {
        self.handle(NodeId::DOCUMENT)
    }

    fn elem_name<'a>(&'a self, target: &'a Handle) -> &'a QualName {
        // html5ever only asks for the names of elements, which always carry one.
        target.name.as_ref().unwrap_or(&self.placeholder)
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> Handle {
        let mut dom = self.dom.borrow_mut();
        let (html, math) = (name.ns == ns!(html), name.ns == ns!(mathml));
        let id = dom.push(NodeData::Element(Element { name: name.local.clone(), html, math, attrs }));
        if flags.template {
            // The template's contents: a fragment right after it in the arena, never attached.
            dom.push(NodeData::Document);
        }
        Handle { id, name: Some(name) }
    }

    fn create_comment(&self, _text: StrTendril) -> Handle {
        let id = self.dom.borrow_mut().push(NodeData::Other);
        self.handle(id)
    }

    fn create_pi(&self, _target: StrTendril, _data: StrTendril) -> Handle {
        let id = self.dom.borrow_mut().push(NodeData::Other);
        self.handle(id)
    }

    fn append(&self, parent: &Handle, child: NodeOrText<Handle>) {
        let mut dom = self.dom.borrow_mut();
        let parent = Self::capped_parent(&dom, parent.id, self.max_depth);
        match child {
            NodeOrText::AppendNode(child) => {
                dom.detach(child.id);
                dom.append_child(parent, child.id);
            }
            NodeOrText::AppendText(text) => dom.append_text(parent, text),
        }
    }

    fn append_based_on_parent_node(
        &self,
        element: &Handle,
        prev_element: &Handle,
        child: NodeOrText<Handle>,
    ) {
        let has_parent = self.dom.borrow().node(element.id).parent.is_some();
        if has_parent {
            self.append_before_sibling(element, child);
        } else {
            self.append(prev_element, child);
        }
    }

    fn append_doctype_to_document(&self, _name: StrTendril, _public_id: StrTendril, _system_id: StrTendril) {}

    fn get_template_contents(&self, target: &Handle) -> Handle {
        self.handle(NodeId(target.id.0 + 1))
    }

    fn same_node(&self, x: &Handle, y: &Handle) -> bool {
        x.id == y.id
    }

    fn set_quirks_mode(&self, _mode: QuirksMode) {}

    fn append_before_sibling(&self, sibling: &Handle, new_node: NodeOrText<Handle>) {
        let mut dom = self.dom.borrow_mut();
        match new_node {
            NodeOrText::AppendNode(child) => {
                dom.detach(child.id);
                dom.insert_before(sibling.id, child.id);
            }
            NodeOrText::AppendText(text) => {
                let prev = dom.node(sibling.id).prev_sibling;
                if let Some(prev) = prev
                    && let NodeData::Text(existing) = &mut dom.nodes[prev.index()].data
                {
                    existing.push_tendril(&text);
                    return;
                }
                let id = dom.push(NodeData::Text(text));
                dom.insert_before(sibling.id, id);
            }
        }
    }

    fn add_attrs_if_missing(&self, target: &Handle, attrs: Vec<Attribute>) {
        let mut dom = self.dom.borrow_mut();
        if let NodeData::Element(element) = &mut dom.nodes[target.id.index()].data {
            for attr in attrs {
                if !element.attrs.iter().any(|a| a.name == attr.name) {
                    element.attrs.push(attr);
                }
            }
        }
    }

    fn remove_from_parent(&self, target: &Handle) {
        self.dom.borrow_mut().detach(target.id);
    }

    fn reparent_children(&self, node: &Handle, new_parent: &Handle) {
        let mut dom = self.dom.borrow_mut();
        while let Some(child) = dom.node(node.id).first_child {
            dom.detach(child);
            dom.append_child(new_parent.id, child);
        }
    }
}

/// Removes the tags of elements that would be nested deeper than `max_depth` and the bodies
/// of `<script>` (except JSON-LD) and `<style>`, by a tag-level scan that follows the
/// tokenizer closely enough for that purpose: comments and raw-text elements are skipped,
/// void elements and elements whose end tag is optional (`p`, `li`, `td`, …) never count as
/// open.
pub fn trim_markup(html: &str, max_depth: usize) -> Cow<'_, str> {
    let bytes = html.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let (mut depth, mut dropped) = (0usize, 0usize);
    let mut i = 0;
    while let Some(offset) = html[i..].find('<') {
        let at = i + offset;
        let rest = &bytes[at..];
        if rest.starts_with(b"<!--") {
            i = html[at + 4..].find("-->").map_or(bytes.len(), |end| at + 4 + end + 3);
            continue;
        }
        if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
            i = html[at..].find('>').map_or(bytes.len(), |end| at + end + 1);
            continue;
        }
        let closing = rest.get(1) == Some(&b'/');
        let name_start = at + 1 + usize::from(closing);
        let name_len = bytes[name_start..].iter().take_while(|b| b.is_ascii_alphanumeric()).count();
        if name_len == 0 || !bytes[name_start].is_ascii_alphabetic() {
            i = at + 1;
            continue;
        }
        let mut name_buf = [0u8; 16];
        let name = &mut name_buf[..name_len.min(16)];
        name.copy_from_slice(&bytes[name_start..name_start + name.len()]);
        name.make_ascii_lowercase();
        let tag_end = tag_end(bytes, name_start + name_len);
        i = tag_end;
        let drop = if closing {
            if !nests(name) {
                None
            } else if dropped > 0 {
                dropped -= 1;
                Some(at..tag_end)
            } else {
                depth = depth.saturating_sub(1);
                None
            }
        } else if is_raw_text(name) {
            // Skip to the end tag: markup inside a script is not markup.
            i = end_tag(html, tag_end, name).unwrap_or(bytes.len());
            let code = name == b"style" || (name == b"script" && !is_json_ld(&bytes[at..tag_end]));
            code.then_some(tag_end..i)
        } else if !nests(name) {
            None
        } else if depth >= max_depth {
            dropped += 1;
            Some(at..tag_end)
        } else {
            depth += 1;
            None
        };
        if let Some(range) = drop.filter(|r| !r.is_empty()) {
            let out = out.get_or_insert_with(|| String::with_capacity(html.len()));
            out.push_str(&html[copied..range.start]);
            copied = range.end;
        }
    }
    match out {
        None => Cow::Borrowed(html),
        Some(mut out) => {
            out.push_str(&html[copied..]);
            Cow::Owned(out)
        }
    }
}

/// Index just past the `>` that ends a tag whose name ends at `from` (quotes respected).
fn tag_end(bytes: &[u8], from: usize) -> usize {
    let mut quote = None;
    for (offset, &b) in bytes[from..].iter().enumerate() {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'>') => return from + offset + 1,
            _ => {}
        }
    }
    bytes.len()
}

/// Whether a `<script …>` start tag declares JSON-LD.
fn is_json_ld(start_tag: &[u8]) -> bool {
    const TYPE: &[u8] = b"ld+json";
    start_tag.windows(TYPE.len()).any(|w| w.eq_ignore_ascii_case(TYPE))
}

/// Position of the first `</name` (any case) at or after `from`.
fn end_tag(html: &str, from: usize, name: &[u8]) -> Option<usize> {
    let bytes = html.as_bytes();
    let mut at = from;
    while let Some(offset) = html[at..].find("</") {
        let start = at + offset;
        let candidate = &bytes[start + 2..];
        if candidate.len() >= name.len() && candidate[..name.len()].eq_ignore_ascii_case(name) {
            return Some(start);
        }
        at = start + 2;
    }
    None
}

fn is_raw_text(name: &[u8]) -> bool {
    matches!(
        name,
        b"script"
            | b"style"
            | b"textarea"
            | b"title"
            | b"xmp"
            | b"iframe"
            | b"noembed"
            | b"noframes"
            | b"noscript"
    )
}

/// Whether an element stays open until its end tag (void elements and elements whose end
/// tag is optional do not pile up).
fn nests(name: &[u8]) -> bool {
    !matches!(
        name,
        b"area"
            | b"base"
            | b"br"
            | b"col"
            | b"embed"
            | b"hr"
            | b"img"
            | b"input"
            | b"link"
            | b"meta"
            | b"source"
            | b"track"
            | b"wbr"
            | b"param"
            | b"keygen"
            | b"p"
            | b"li"
            | b"dt"
            | b"dd"
            | b"option"
            | b"optgroup"
            | b"tr"
            | b"td"
            | b"th"
            | b"thead"
            | b"tbody"
            | b"tfoot"
            | b"colgroup"
            | b"caption"
            | b"rb"
            | b"rt"
            | b"rtc"
            | b"rp"
            | b"html"
            | b"head"
            | b"body"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_text(dom: &Dom) -> String {
        let body = dom.find(NodeId::DOCUMENT, &local_name!("body")).unwrap();
        dom.text_of(body).into_owned()
    }

    #[test]
    fn builds_a_tree_with_merged_text() {
        let dom = Dom::parse("<title>T</title><p>a<b>b</b>c</p><p>d &amp; e", 256);
        assert_eq!(body_text(&dom), "abcd & e");
        let p = dom.find(NodeId::DOCUMENT, &local_name!("p")).unwrap();
        assert_eq!(dom.children(p).count(), 3);
        assert_eq!(dom.text_of(dom.find(NodeId::DOCUMENT, &local_name!("title")).unwrap()), "T");
    }

    #[test]
    fn misnested_markup_is_repaired_not_lost() {
        let dom = Dom::parse("<p><b>one<i>two</b>three</i></p><table><tr>x<td>cell</table>", 256);
        assert_eq!(body_text(&dom), "onetwothreexcell");
    }

    #[test]
    fn nesting_is_capped_in_bounded_time() {
        let depth = 100_000;
        let html = "<div><b>".repeat(depth) + "deep" + &"</b></div>".repeat(depth) + "<p>after";
        let started = std::time::Instant::now();
        let dom = Dom::parse(&html, 64);
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
        assert!(dom.nodes.iter().all(|n| n.depth <= 64));
        assert_eq!(body_text(&dom), "deepafter");
    }

    #[test]
    fn script_and_style_bodies_are_dropped_but_json_ld_kept() {
        let html = "<script>if (a<b) {'<div>'}</script><STYLE>p{}</STYLE>\
                    <script type='application/ld+json'>{\"a\":1}</script><p>text";
        assert_eq!(
            trim_markup(html, 8),
            "<script></script><STYLE></STYLE><script type='application/ld+json'>{\"a\":1}</script><p>text"
        );
    }

    #[test]
    fn nesting_limit_leaves_ordinary_markup_alone() {
        let html = "<!-- <div><div> --><script></script><ul><li>a<li>b</ul><p>x<p>y<br><img src=a>";
        assert!(matches!(trim_markup(html, 2), Cow::Borrowed(_)));
        assert_eq!(
            trim_markup("<div><div a='>'><div>x</div></div></div>", 2),
            "<div><div a='>'>x</div></div>"
        );
    }

    #[test]
    fn template_contents_stay_out_of_the_tree() {
        let dom = Dom::parse("<body><template><p>hidden</p></template><p>shown</p>", 256);
        assert_eq!(body_text(&dom), "shown");
    }

    #[test]
    fn svg_elements_are_not_html() {
        let dom = Dom::parse("<svg><title>icon</title></svg>", 256);
        assert!(dom.find(NodeId::DOCUMENT, &local_name!("title")).is_none());
    }
}
