package automation

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// Schedule is a parsed schedule: a 5-field cron expression (minute, hour,
// day of month, month, day of week), read in a time zone.
type Schedule struct {
	minute, hour, dom, month, dow uint64 // bit sets
	domAny, dowAny                bool   // the field was *
	Cron                          string // the expression it was read as
}

// ParseSchedule reads a 5-field cron expression, or plain English such as
// "every Monday at 9am", "every 2 hours", "every weekday at 8:30",
// "daily at noon", "every 15 minutes". The error says what is accepted.
func ParseSchedule(text string) (*Schedule, error) {
	t := strings.TrimSpace(strings.ToLower(text))
	if t == "" {
		return nil, herm.Errorf(herm.EInvalid, "schedule is required")
	}
	cron := t
	if !looksLikeCron(t) {
		c, err := english(t)
		if err != nil {
			return nil, err
		}
		cron = c
	}
	s, err := parseCron(cron)
	if err != nil {
		return nil, herm.Errorf(herm.EInvalid, "schedule %q: %s (a 5-field cron expression such as \"0 9 * * 1\", or English such as \"every Monday at 9am\", \"every 2 hours\", \"every weekday at 8:30\")", text, err)
	}
	return s, nil
}

func looksLikeCron(t string) bool {
	return len(strings.Fields(t)) == 5 && strings.ContainsAny(t[:1], "0123456789*")
}

var (
	reEvery  = regexp.MustCompile(`^every (\d+) (minute|minutes|hour|hours)$`)
	reAtTime = regexp.MustCompile(`^(every day|daily|every weekday|weekdays|every weekend|every (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?|(?:on )?(?:mondays|tuesdays|wednesdays|thursdays|fridays|saturdays|sundays))(?: at (.+))?$`)
	reClock  = regexp.MustCompile(`^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$`)
)

// weekday is a day's number, Sunday 0.
func weekday(name string) (int, bool) {
	for i, d := range []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"} {
		if d == name {
			return i, true
		}
	}
	return 0, false
}

// english turns the plain-English forms into cron.
func english(t string) (string, error) {
	bad := func() (string, error) {
		return "", herm.Errorf(herm.EInvalid, "schedule %q is not understood: use a 5-field cron expression (\"0 9 * * 1\"), or English such as \"every Monday at 9am\", \"every day at 17:30\", \"every weekday at 8am\", \"every 2 hours\", \"every 15 minutes\", \"hourly\"", t)
	}
	switch t {
	case "every minute":
		return "* * * * *", nil
	case "hourly", "every hour":
		return "0 * * * *", nil
	case "daily", "every day":
		return "0 0 * * *", nil
	}
	if m := reEvery.FindStringSubmatch(t); m != nil {
		n, _ := strconv.Atoi(m[1])
		if strings.HasPrefix(m[2], "minute") {
			if n < 1 || n > 60 || 60%n != 0 {
				return "", herm.Errorf(herm.EInvalid, "schedule %q: every N minutes needs N to divide 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)", t)
			}
			if n == 60 {
				return "0 * * * *", nil
			}
			return fmt.Sprintf("*/%d * * * *", n), nil
		}
		if n < 1 || n > 24 || 24%n != 0 {
			return "", herm.Errorf(herm.EInvalid, "schedule %q: every N hours needs N to divide 24 (1, 2, 3, 4, 6, 8, 12, 24)", t)
		}
		if n == 24 {
			return "0 0 * * *", nil
		}
		return fmt.Sprintf("0 */%d * * *", n), nil
	}
	m := reAtTime.FindStringSubmatch(t)
	if m == nil {
		return bad()
	}
	hour, minute := 0, 0
	if m[2] != "" {
		var ok bool
		if hour, minute, ok = clock(m[2]); !ok {
			return "", herm.Errorf(herm.EInvalid, "schedule %q: %q is not a time of day (9am, 9:30pm, 17:00, noon, midnight)", t, m[2])
		}
	}
	days := "*"
	switch day := strings.TrimPrefix(m[1], "on "); {
	case day == "every day" || day == "daily":
	case day == "every weekday" || day == "weekdays":
		days = "1-5"
	case day == "every weekend":
		days = "0,6"
	default:
		name := strings.TrimSuffix(strings.TrimPrefix(day, "every "), "s")
		d, ok := weekday(name)
		if !ok {
			return bad()
		}
		days = strconv.Itoa(d)
	}
	return fmt.Sprintf("%d %d * * %s", minute, hour, days), nil
}

func clock(s string) (hour, minute int, ok bool) {
	switch s = strings.TrimSpace(s); s {
	case "noon":
		return 12, 0, true
	case "midnight":
		return 0, 0, true
	}
	m := reClock.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, false
	}
	hour, _ = strconv.Atoi(m[1])
	if m[2] != "" {
		minute, _ = strconv.Atoi(m[2])
	}
	switch m[3] {
	case "am":
		if hour < 1 || hour > 12 {
			return 0, 0, false
		}
		if hour == 12 {
			hour = 0
		}
	case "pm":
		if hour < 1 || hour > 12 {
			return 0, 0, false
		}
		if hour != 12 {
			hour += 12
		}
	}
	return hour, minute, hour < 24 && minute < 60
}

// Names cron takes for months and days of the week.
const (
	monthNames = "jan feb mar apr may jun jul aug sep oct nov dec"
	dayNames   = "sun mon tue wed thu fri sat"
)

func parseCron(expr string) (*Schedule, error) {
	f := strings.Fields(expr)
	if len(f) != 5 {
		return nil, fmt.Errorf("a cron expression has 5 fields, not %d", len(f))
	}
	s := &Schedule{Cron: strings.Join(f, " ")}
	var err error
	if s.minute, err = field(f[0], 0, 59, "", "minute"); err != nil {
		return nil, err
	}
	if s.hour, err = field(f[1], 0, 23, "", "hour"); err != nil {
		return nil, err
	}
	if s.dom, err = field(f[2], 1, 31, "", "day of month"); err != nil {
		return nil, err
	}
	if s.month, err = field(f[3], 1, 12, monthNames, "month"); err != nil {
		return nil, err
	}
	if s.dow, err = field(f[4], 0, 7, dayNames, "day of week"); err != nil {
		return nil, err
	}
	if s.dow&(1<<7) != 0 { // 7 is Sunday too
		s.dow |= 1
	}
	// As in classic cron, a field starting with * (also */2) leaves the
	// day to the other field.
	s.domAny, s.dowAny = strings.HasPrefix(f[2], "*"), strings.HasPrefix(f[4], "*")
	return s, nil
}

// field reads one cron field: *, n, a-b, lists, and /step; names (jan,
// mon) where given, counted from lo.
func field(text string, lo, hi int, names, what string) (uint64, error) {
	var bits uint64
	for _, part := range strings.Split(text, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("%s: bad step %q", what, stepText)
			}
			step = n
		}
		a, b := lo, hi
		if rng != "*" {
			from, to, isRange := strings.Cut(rng, "-")
			var err error
			if a, err = value(from, lo, hi, names); err != nil {
				return 0, fmt.Errorf("%s: %v", what, err)
			}
			b = a
			if isRange {
				if b, err = value(to, lo, hi, names); err != nil {
					return 0, fmt.Errorf("%s: %v", what, err)
				}
			} else if hasStep {
				b = hi
			}
			if b < a {
				return 0, fmt.Errorf("%s: range %q runs backwards", what, rng)
			}
		}
		for v := a; v <= b; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, nil
}

func value(s string, lo, hi int, names string) (int, error) {
	for i, n := range strings.Fields(names) {
		if s == n {
			return i + lo, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%q is not a value from %d to %d", s, lo, hi)
	}
	return v, nil
}

// Next returns the first time after t (to the minute) that the schedule
// fires, reading it in loc; the zero time when there is none within
// five years (say, February 30th). Time only moves forward, also across
// daylight-saving changes: a wall-clock time that does not exist that day
// (spring forward) is skipped, and one that happens twice (fall back)
// fires once.
func (s *Schedule) Next(t time.Time, loc *time.Location) time.Time {
	after := t.In(loc)
	t = t.Truncate(time.Minute).Add(time.Minute)
	end := t.AddDate(5, 0, 0)
	// forward moves to next when it is later, else a minute on (a jump
	// computed in wall-clock time can land back across a DST change).
	forward := func(next time.Time) {
		if next.After(t) {
			t = next
		} else {
			t = t.Add(time.Minute)
		}
	}
	for t.Before(end) {
		l := t.In(loc)
		switch {
		case s.month&(1<<uint(l.Month())) == 0:
			forward(time.Date(l.Year(), l.Month()+1, 1, 0, 0, 0, 0, loc))
		case !s.dayMatches(l):
			forward(time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc))
		case s.hour&(1<<uint(l.Hour())) == 0:
			forward(time.Date(l.Year(), l.Month(), l.Day(), l.Hour()+1, 0, 0, 0, loc))
		case s.minute&(1<<uint(l.Minute())) == 0:
			t = t.Add(time.Minute)
		case sameDay(l, after) && wallMinutes(l) <= wallMinutes(after):
			t = t.Add(time.Minute) // the repeated hour of a fall-back: already past on the wall clock
		default:
			return t.UTC()
		}
	}
	return time.Time{}
}

func sameDay(a, b time.Time) bool {
	return a.Year() == b.Year() && a.YearDay() == b.YearDay()
}

func wallMinutes(t time.Time) int { return t.Hour()*60 + t.Minute() }

// dayMatches: cron's rule, day of month OR day of week when both are
// restricted, otherwise whichever is.
func (s *Schedule) dayMatches(t time.Time) bool {
	dom := s.dom&(1<<uint(t.Day())) != 0
	dow := s.dow&(1<<uint(t.Weekday())) != 0
	switch {
	case s.domAny && s.dowAny:
		return true
	case s.domAny:
		return dow
	case s.dowAny:
		return dom
	}
	return dom || dow
}
