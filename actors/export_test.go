package actors

import "errors"

// Duplicates returns how many replies arrived after a request's final
// reply: the session actors promise zero.
func Duplicates(e *Engine) int64 { return e.duplicates.Load() }

var errorsIs = errors.Is

// DeadLetters returns how many messages went to actors that were gone.
func DeadLetters(e *Engine) int64 { return e.deadLetters.Load() }
