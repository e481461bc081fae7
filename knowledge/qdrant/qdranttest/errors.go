package qdranttest

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The errors a real Qdrant returns for what the double rejects, with where
// each comes from in qdrant/qdrant. Qdrant turns its StorageError into a
// gRPC status in lib/storage/src/content_manager/conversions.rs: BadInput
// and BadRequest are InvalidArgument, NotFound is NotFound, AlreadyExists
// is AlreadyExists; the message is the error's Display, prefixed "Wrong
// input: " (BadInput, AlreadyExists), "Not found: " or "Bad request: "
// (lib/storage/src/content_manager/errors.rs). Errors raised while
// converting a gRPC request (lib/api/src/grpc/conversions.rs) are a bare
// Status::invalid_argument with no prefix.

// errNoCollection: collections_ops.rs, validate_collection_exists.
func errNoCollection(name string) error {
	return status.Errorf(codes.NotFound, "Not found: Collection `%s` doesn't exist!", name)
}

// errCollectionExists: collections_ops.rs, validate_collection_not_exists;
// AlreadyExists since Qdrant 1.8 (qdrant/qdrant#3217, #3423), InvalidArgument
// before, with the same message.
func errCollectionExists(name string) error {
	return status.Errorf(codes.AlreadyExists, "Wrong input: Collection `%s` already exists!", name)
}

// errDimension: lib/segment/src/common/operation_error.rs,
// OperationError::WrongVectorDimension, a BadInput in the collection.
func errDimension(expected, got int) error {
	return status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", expected, got)
}

// errUnknownVectorName: operation_error.rs, VectorNameNotExists, raised by
// a segment when a point names a vector the collection lacks. The name of
// an unnamed vector is "" (DEFAULT_VECTOR_NAME), hence the message ending
// in ": " seen in many bug reports.
func errUnknownVectorName(name string) error {
	return status.Errorf(codes.InvalidArgument, "Wrong input: Not existing vector name error: %s", name)
}

// errMissingVector: lib/collection/src/config.rs,
// CollectionParams::missing_vector_error (qdrant/qdrant#5399), raised when
// a query's `using` names no configured vector. Dense names come first,
// then sparse ones, each sorted (they are BTreeMaps). Qdrant 1.18 was
// reported answering "Not existing vector name" in a case this covers;
// kefu's tests match on the code and the vector's name only.
func errMissingVector(c *collection, name string) error {
	// An unnamed vector is the dense name "", which sorts first.
	names := sortedKeys(c.dense)
	names = append(names, sortedKeys(c.sparse)...)
	var msg string
	switch {
	case len(names) == 0:
		msg = "Vectors are not configured in this collection"
	case len(names) == 1 && names[0] == "":
		msg = fmt.Sprintf("Vector with name %s is not configured in this collection", name)
	case name == "":
		msg = "Collection requires specified vector name in the request, available names: " + strings.Join(names, ", ")
	default:
		msg = fmt.Sprintf("Vector with name `%s` is not configured in this collection, available names: %s", name, strings.Join(names, ", "))
	}
	return status.Error(codes.InvalidArgument, "Wrong input: "+msg)
}

// errWrongSparse: lib/collection/src/operations/types.rs, the conversion of
// OperationError::WrongSparse into CollectionError::BadInput: a dense
// vector given for a sparse name or the other way round.
func errWrongSparse() error {
	return status.Error(codes.InvalidArgument, "Wrong input: Conversion between sparse and regular vectors failed")
}

// Request conversion errors, lib/api/src/grpc/conversions.rs.
var (
	errNoVectors        = status.Error(codes.InvalidArgument, "Expected some vectors")
	errNoID             = status.Error(codes.InvalidArgument, "Empty ID is not allowed")
	errMalformedCond    = status.Error(codes.InvalidArgument, "Malformed Condition type")
	errMalformedMatch   = status.Error(codes.InvalidArgument, "Malformed Match condition")
	errNestedNeedFilter = status.Error(codes.InvalidArgument, "Nested condition must have a filter")
)

func errBadUUID(s string) error {
	return status.Errorf(codes.InvalidArgument, "Unable to parse UUID: %s", s)
}

// errValidation is a request that fails Qdrant's `validator` checks
// (lib/api/src/grpc/validate.rs). The gRPC services answer those with
// InvalidArgument and label_errors("Validation error in body", …)
// (src/tonic/api/mod.rs, validate; lib/collection/src/operations/
// validation.rs, label_errors), which reads "Validation error in body:
// [field: message; …]". The field paths the double writes are
// approximate; so are the messages, except where a caller says otherwise.
func errValidation(field, msg string) error {
	return status.Errorf(codes.InvalidArgument, "Validation error in body: [%s: %s]", field, msg)
}

// errFieldCondition: validate.rs, FieldCondition with no condition set.
func errFieldCondition(field string) error {
	return errValidation(field, "At least one field condition must be specified")
}

// Authentication (src/common/auth/mod.rs, AuthKeys::validate_request), an
// AuthError::Unauthorized, which gRPC answers Unauthenticated.
var (
	errNoKey  = status.Error(codes.Unauthenticated, "Must provide an API key or an Authorization bearer token")
	errBadKey = status.Error(codes.Unauthenticated, "Invalid API key or JWT")
)

// errNotModelled is a request the double does not implement; a real
// Qdrant would serve it.
func errNotModelled(what string) error {
	return status.Errorf(codes.Unimplemented, "qdranttest: %s is not modelled by the double", what)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
