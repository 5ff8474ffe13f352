package automation

import (
	"testing"
	"time"
)

func TestSchedules(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone data")
	}
	from := time.Date(2026, 11, 29, 23, 40, 0, 0, time.UTC) // a Sunday
	for _, c := range []struct {
		in, cron string
		loc      *time.Location
		next     time.Time
	}{
		{"every Monday at 9am", "0 9 * * 1", time.UTC, time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)},
		{"every monday at 9am", "0 9 * * 1", ny, time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)},
		{"every 2 hours", "0 */2 * * *", time.UTC, time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)},
		{"every 15 minutes", "*/15 * * * *", time.UTC, time.Date(2026, 11, 29, 23, 45, 0, 0, time.UTC)},
		{"every weekday at 8:30", "30 8 * * 1-5", time.UTC, time.Date(2026, 11, 30, 8, 30, 0, 0, time.UTC)},
		{"daily at noon", "0 12 * * *", time.UTC, time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)},
		{"every day at 11:45pm", "45 23 * * *", time.UTC, time.Date(2026, 11, 29, 23, 45, 0, 0, time.UTC)},
		{"hourly", "0 * * * *", time.UTC, time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)},
		{"0 9 1 * *", "0 9 1 * *", time.UTC, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)},
		{"0 0 * * SUN", "0 0 * * sun", time.UTC, time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)},
		{"0 0 * * 7", "0 0 * * 7", time.UTC, time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)},
		{"0 12 13 * 5", "0 12 13 * 5", time.UTC, time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}, // the 13th or a Friday
		{"0 0 29 2 *", "0 0 29 2 *", time.UTC, time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)},
	} {
		s, err := ParseSchedule(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if s.Cron != c.cron {
			t.Errorf("%q read as %q, want %q", c.in, s.Cron, c.cron)
		}
		if got := s.Next(from, c.loc); !got.Equal(c.next) {
			t.Errorf("%q in %s: next %v, want %v", c.in, c.loc, got, c.next)
		}
	}
	for _, bad := range []string{"", "sometimes", "every 7 minutes", "every 5 hours", "61 * * * *", "* * * *", "0 9 * * 8", "5-1 * * * *", "every monday at 25:00", "every day at 13pm"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
	if s, _ := ParseSchedule("0 0 30 2 *"); !s.Next(from, time.UTC).IsZero() {
		t.Error("February 30th fired")
	}
}

// Daylight saving: time moves forward, a missing wall-clock time is
// skipped, a repeated one fires once.
func TestSchedulesAcrossDST(t *testing.T) {
	for _, c := range []struct {
		zone, cron string
		from       time.Time
		fires      int // in the next three days
	}{
		{"America/New_York", "0 9 * * *", time.Date(2026, 3, 7, 14, 0, 0, 0, time.UTC), 3},    // spring forward on the 8th
		{"America/New_York", "30 2 * * *", time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC), 2},   // 2:30 does not exist on the 8th
		{"America/New_York", "30 1 * * *", time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC), 3}, // 1:30 twice on Nov 1st: once
		{"America/Sao_Paulo", "0 9 * * *", time.Date(2018, 11, 3, 12, 0, 0, 0, time.UTC), 3},
		{"America/Santiago", "0 */2 * * *", time.Date(2026, 9, 5, 12, 0, 0, 0, time.UTC), 35},
		{"Europe/Berlin", "30 2 * * *", time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC), 2},
	} {
		loc, err := time.LoadLocation(c.zone)
		if err != nil {
			t.Skip("no time zone data")
		}
		s, err := ParseSchedule(c.cron)
		if err != nil {
			t.Fatal(err)
		}
		n, at := 0, c.from
		end := c.from.Add(72 * time.Hour)
		for {
			next := s.Next(at, loc)
			if next.IsZero() || !next.After(at) {
				t.Fatalf("%s %s: Next(%v) = %v", c.zone, c.cron, at, next)
			}
			if next.After(end) {
				break
			}
			n++
			at = next
		}
		if n != c.fires && !(c.fires == 35 && n >= 34 && n <= 36) {
			t.Errorf("%s %q from %v: %d firings in 3 days, want %d", c.zone, c.cron, c.from, n, c.fires)
		}
	}
	// Classic cron: */2 in day of month leaves the day to day of week.
	s, _ := ParseSchedule("0 0 */2 * 1")
	if got := s.Next(time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), time.UTC); !got.Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("*/2 with Monday: %v", got)
	}
}
