package sqlstore

import (
	"testing"
	"testing/fstest"
)

func TestNumber(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE b = ? AND c IN (?, ?)`, `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`},
		{`SELECT '?', "a?b", ? FROM t WHERE x = 'it''s ?' AND y = ?`, `SELECT '?', "a?b", $1 FROM t WHERE x = 'it''s ?' AND y = $2`},
		{`SELECT json_extract(usage, '$.cost_usd') WHERE id = ?`, `SELECT json_extract(usage, '$.cost_usd') WHERE id = $1`},
	} {
		if got := number(c.in); got != c.want {
			t.Errorf("number(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestRebindCaches(t *testing.T) {
	s := New(Dialect{Numbered: true, JSONHas: func(a, v string) string { return "" }}, nil, nil, nil)
	q := `SELECT ? + ?`
	if got := s.rebind(q); got != `SELECT $1 + $2` {
		t.Fatalf("rebind = %q", got)
	}
	if v, ok := s.rebound.Load(q); !ok || v != `SELECT $1 + $2` {
		t.Fatalf("rebind did not cache: %v, %v", v, ok)
	}
	if got := New(Dialect{JSONHas: func(a, v string) string { return "" }}, nil, nil, nil).rebind(q); got != q {
		t.Fatalf("rebind without Numbered = %q", got)
	}
}

func TestMigrations(t *testing.T) {
	ok := fstest.MapFS{
		"m/0002_b.sql":   {Data: []byte("B")},
		"m/0001_a.sql":   {Data: []byte("A")},
		"m/0010_c.sql":   {Data: []byte("C")},
		"m/README.md":    {Data: []byte("not a migration")},
		"m/sub/0003.sql": {Data: []byte("in a subdirectory")},
	}
	ms, err := Migrations(ok, "m")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, m := range ms {
		got = append(got, m.Version)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 10 || ms[2].SQL != "C" || ms[2].Name != "0010_c.sql" {
		t.Fatalf("Migrations = %+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"no number": {"m/x_a.sql": {Data: []byte("A")}},
		"zero":      {"m/0000_a.sql": {Data: []byte("A")}},
		"same":      {"m/0001_a.sql": {Data: []byte("A")}, "m/1_b.sql": {Data: []byte("B")}},
		"none":      {"m/README.md": {Data: []byte("")}},
	} {
		if _, err := Migrations(fsys, "m"); err == nil {
			t.Errorf("%s: Migrations succeeded", name)
		}
	}
}
