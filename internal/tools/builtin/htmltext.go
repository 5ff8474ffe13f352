package builtin

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlToText reduces an HTML document to its title and readable text:
// scripts, styles and the head are dropped, block elements become line or
// paragraph breaks, whitespace is collapsed (except in <pre>), entities are
// decoded, and links keep their absolute http(s) target as [text](url).
func htmlToText(doc string, base *url.URL) (title, text string) {
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		return "", doc // html.Parse only fails on read errors
	}
	if t := find(root, atom.Title); t != nil {
		title = strings.Join(strings.Fields(innerText(t)), " ")
	}
	c := &htmlConv{base: base}
	c.node(root)
	return title, c.w.String()
}

// find returns the first element of type a under n.
func find(n *html.Node, a atom.Atom) *html.Node {
	if n.Type == html.ElementNode && n.DataAtom == a {
		return n
	}
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		if f := find(ch, a); f != nil {
			return f
		}
	}
	return nil
}

func innerText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(n)
	return b.String()
}

type htmlConv struct {
	w    textWriter
	base *url.URL
	pre  int // depth of <pre> elements
}

func (c *htmlConv) children(n *html.Node) {
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		c.node(ch)
	}
}

func (c *htmlConv) node(n *html.Node) {
	switch n.Type {
	case html.DocumentNode:
		c.children(n)
		return
	case html.TextNode:
		if c.pre > 0 {
			c.w.raw(n.Data)
		} else {
			c.w.text(n.Data)
		}
		return
	case html.ElementNode:
	default:
		return // comments, doctype
	}
	switch n.DataAtom {
	case atom.Head, atom.Script, atom.Style, atom.Noscript, atom.Svg, atom.Math,
		atom.Template, atom.Iframe, atom.Canvas, atom.Object, atom.Embed,
		atom.Select, atom.Button, atom.Input, atom.Textarea:
		return
	case atom.Br:
		c.w.newline()
	case atom.Hr:
		c.w.breakLines(2)
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		c.w.breakLines(2)
		c.w.word(strings.Repeat("#", int(n.Data[1]-'0')) + " ")
		c.children(n)
		c.w.breakLines(2)
	case atom.P, atom.Blockquote, atom.Table, atom.Ul, atom.Ol, atom.Dl,
		atom.Figure, atom.Section, atom.Article, atom.Header, atom.Footer,
		atom.Nav, atom.Aside, atom.Main, atom.Form, atom.Fieldset, atom.Address, atom.Details:
		c.w.breakLines(2)
		c.children(n)
		c.w.breakLines(2)
	case atom.Pre:
		c.w.breakLines(2)
		c.pre++
		c.children(n)
		c.pre--
		c.w.breakLines(2)
	case atom.Li:
		c.w.breakLines(1)
		c.w.word("- ")
		c.children(n)
		c.w.breakLines(1)
	case atom.Div, atom.Tr, atom.Dt, atom.Dd, atom.Summary, atom.Figcaption,
		atom.Caption, atom.Tbody, atom.Thead, atom.Tfoot, atom.Legend:
		c.w.breakLines(1)
		c.children(n)
		c.w.breakLines(1)
	case atom.Td, atom.Th:
		if prevElement(n) != nil {
			c.w.word(" | ")
		}
		c.children(n)
	case atom.A:
		target := c.link(n)
		if target == "" {
			c.children(n)
			return
		}
		inner := &htmlConv{base: c.base}
		inner.children(n)
		label := strings.Join(strings.Fields(inner.w.String()), " ")
		if label == "" {
			return
		}
		if first, _ := utf8.DecodeRuneInString(innerText(n)); unicode.IsSpace(first) {
			c.w.space = true
		}
		if label == target {
			c.w.word(target)
		} else {
			c.w.word("[" + label + "](" + target + ")")
		}
		if last, _ := utf8.DecodeLastRuneInString(innerText(n)); unicode.IsSpace(last) {
			c.w.space = true
		}
	default:
		c.children(n)
	}
}

// link returns the absolute http(s) target of an <a>, or "".
func (c *htmlConv) link(n *html.Node) string {
	for _, a := range n.Attr {
		if a.Key != "href" || a.Namespace != "" {
			continue
		}
		href := strings.TrimSpace(a.Val)
		if href == "" || strings.HasPrefix(href, "#") {
			return ""
		}
		u, err := url.Parse(href)
		if err != nil {
			return ""
		}
		if c.base != nil {
			u = c.base.ResolveReference(u)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return ""
		}
		return u.String()
	}
	return ""
}

func prevElement(n *html.Node) *html.Node {
	for p := n.PrevSibling; p != nil; p = p.PrevSibling {
		if p.Type == html.ElementNode {
			return p
		}
	}
	return nil
}

// textWriter builds text with collapsed whitespace and at most one blank
// line between blocks.
type textWriter struct {
	b     strings.Builder
	last  byte // the last byte written
	nl    int  // line breaks wanted before the next text (at most 2)
	space bool // a space wanted before the next text
}

// breakLines asks for at least n line breaks before the next text.
func (w *textWriter) breakLines(n int) { w.nl = max(w.nl, n) }

// newline adds one line break (<br>).
func (w *textWriter) newline() { w.nl = min(w.nl+1, 2) }

func (w *textWriter) flush() {
	if w.b.Len() > 0 {
		switch {
		case w.nl > 0 && w.last == '\n':
			w.write("\n"[:w.nl-1]) // preformatted text ended its line
		case w.nl > 0:
			w.write("\n\n"[:w.nl])
		case w.space && w.last != ' ' && w.last != '\n':
			w.write(" ")
		}
	}
	w.nl, w.space = 0, false
}

func (w *textWriter) write(s string) {
	if s != "" {
		w.b.WriteString(s)
		w.last = s[len(s)-1]
	}
}

// text writes s with its whitespace collapsed.
func (w *textWriter) text(s string) {
	if s == "" {
		return
	}
	first, _ := utf8.DecodeRuneInString(s)
	if unicode.IsSpace(first) {
		w.space = true
	}
	for i, f := range strings.Fields(s) {
		if i > 0 {
			w.space = true
		}
		w.flush()
		w.write(f)
	}
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(last) {
		w.space = true
	}
}

// word writes s as it is, after any pending break or space.
func (w *textWriter) word(s string) {
	w.flush()
	w.write(s)
}

// raw writes preformatted text.
func (w *textWriter) raw(s string) {
	if s == "" {
		return
	}
	w.flush()
	w.write(s)
}

// String returns the text with trailing spaces removed from every line.
func (w *textWriter) String() string {
	lines := strings.Split(w.b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRightFunc(l, unicode.IsSpace)
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}
