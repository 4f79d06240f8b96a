// Package out holds what the scenario programs share: printing the one
// JSON document, and turning errors and byte strings into comparable text.
package out

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
	"unicode/utf8"
)

// T0 is the base of the records' timestamps, which the programs record
// relative to it. It is now, not a fixed past time: Kafka deletes records
// older than retention.ms (its first check runs 30 s after start), so old
// timestamps would make what a scenario reads depend on when it runs.
var T0 = time.Now().Truncate(time.Second).UnixMilli()

// Print writes v as one indented JSON document on stdout (map keys sorted,
// so a run's output is deterministic).
func Print(v any) {
	b, err := json.MarshalIndent(v, "", " ")
	Check(err)
	os.Stdout.Write(append(b, '\n'))
}

// Fail reports a scenario failure (not a difference: the scenario could not
// go on) and exits 1.
func Fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

// Check fails on an error the scenario cannot go on after.
func Check(err error) {
	if err != nil {
		Fail("%v", err)
	}
}

// Err is an error as text, "" for none: the clients name Kafka's error
// codes in their messages, so equal text means an equal error code.
func Err(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Bytes is a value as text, nil (a tombstone) as JSON null, so that an
// empty value and no value stay apart.
func Bytes(b []byte) any {
	if b == nil {
		return nil
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return fmt.Sprintf("%x", b)
}

// Str is a *string as text, nil as JSON null.
func Str(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}
