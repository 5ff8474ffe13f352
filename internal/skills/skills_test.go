package skills

import (
	"strings"
	"testing"

	"github.com/hermhq/herm/internal/herm"
)

func TestParse(t *testing.T) {
	ok := []struct{ in, name, desc, body string }{
		{"---\nname: pdf\ndescription: Work with PDFs.\n---\n# PDF\nsteps\n", "pdf", "Work with PDFs.", "# PDF\nsteps"},
		{"\ufeff---\r\nname: a-b-2\r\ndescription: |\r\n  two\r\n  lines\r\n---\r\nbody", "a-b-2", "two\nlines", "body"},
		{"---\nname: x\ndescription: d\nlicense: MIT\nallowed-tools: shell\n---\n", "x", "d", ""},
	}
	for _, c := range ok {
		m, body, err := Parse(c.in)
		if err != nil || m.Name != c.name || m.Description != c.desc || body != c.body {
			t.Errorf("Parse(%q) = %+v, %q, %v", c.in, m, body, err)
		}
	}
	bad := []struct{ in, want string }{
		{"name: x\n", "must start with YAML front matter"},
		{"---\nname: x\ndescription: d\n", "not closed"},
		{"---\nname: x\n---\n", "no description"},
		{"---\ndescription: d\n---\n", "no name"},
		{"---\nname: X\ndescription: d\n---\n", "lowercase"},
		{"---\nname: -x\ndescription: d\n---\n", "lowercase"},
		{"---\nname: a--b\ndescription: d\n---\n", "lowercase"},
		{"---\nname: " + strings.Repeat("a", 65) + "\ndescription: d\n---\n", "at most 64"},
		{"---\nname: x\ndescription: " + strings.Repeat("d", 1025) + "\n---\n", "1024"},
		{"---\nname: [x\ndescription: d\n---\n", "not valid YAML"},
		{"---\n- a\n- b\n---\n", "not valid YAML"},
		{strings.Repeat("x", MaxBytes+1), "larger than"},
	}
	for _, c := range bad {
		_, _, err := Parse(c.in)
		if herm.ErrorCode(err) != herm.EInvalidSkill || !strings.Contains(herm.ErrorMessage(err), c.want) {
			t.Errorf("Parse(%.40q) = %v, want invalid_skill saying %q", c.in, err, c.want)
		}
	}
}

func TestFileDir(t *testing.T) {
	for in, want := range map[string][2]string{
		"skills/pdf":          {"skills/pdf", "skills/pdf/SKILL.md"},
		"skills/pdf/":         {"skills/pdf", "skills/pdf/SKILL.md"},
		"skills/pdf/SKILL.md": {"skills/pdf", "skills/pdf/SKILL.md"},
	} {
		if d, f := FileDir(in); d != want[0] || f != want[1] {
			t.Errorf("FileDir(%q) = %q, %q", in, d, f)
		}
	}
}
