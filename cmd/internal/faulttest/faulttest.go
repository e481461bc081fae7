package faulttest

import (
	"os"
	"time"
)

// EnvFull names the variable that selects the long form of the suite.
const EnvFull = "KEFU_FAULTS"

// Full reports whether the long form was asked for (KEFU_FAULTS=full).
func Full() bool { return os.Getenv(EnvFull) == "full" }

// Duration is bounded in the default run and full under KEFU_FAULTS=full.
func Duration(bounded, full time.Duration) time.Duration {
	if Full() {
		return full
	}
	return bounded
}

// Count is bounded in the default run and full under KEFU_FAULTS=full.
func Count(bounded, full int) int {
	if Full() {
		return full
	}
	return bounded
}
