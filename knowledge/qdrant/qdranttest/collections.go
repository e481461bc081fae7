package qdranttest

import (
	"context"
	"fmt"
	"strings"

	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// collectionsService is Qdrant's Collections service: Create, Get, List,
// Delete and CollectionExists. The rest (aliases, updates, sharding)
// answer Unimplemented.
type collectionsService struct {
	qc.UnimplementedCollectionsServer
	s *Server
}

// checkName applies Qdrant's collection name validation (length 1..255,
// no character a file name cannot hold: common::validation::
// validate_collection_name). The messages are approximate.
func checkName(name string) error {
	if len(name) == 0 || len(name) > 255 {
		return errValidation("collection_name", "value length must be between 1 and 255")
	}
	if i := strings.IndexAny(name, "<>:\"/\\|?*\x00"); i >= 0 {
		return errValidation("collection_name", fmt.Sprintf("collection name cannot contain %q char", name[i]))
	}
	return nil
}

func checkVectorParams(field string, p *qc.VectorParams) error {
	if p.GetSize() == 0 || p.GetSize() > 65536 {
		return errValidation(field+".size", fmt.Sprintf("value %d invalid, must be from 1 to 65536", p.GetSize()))
	}
	switch p.GetDistance() {
	case qc.Distance_Cosine, qc.Distance_Dot, qc.Distance_Euclid, qc.Distance_Manhattan:
	default:
		return status.Errorf(codes.InvalidArgument, "Malformed distance parameter: %d", p.GetDistance())
	}
	if p.MultivectorConfig != nil {
		return errNotModelled("multivectors")
	}
	return nil
}

func (cs *collectionsService) Create(_ context.Context, req *qc.CreateCollection) (*qc.CollectionOperationResponse, error) {
	if err := checkName(req.GetCollectionName()); err != nil {
		return nil, err
	}
	c := &collection{
		name:   req.GetCollectionName(),
		dense:  map[string]*qc.VectorParams{},
		sparse: map[string]*qc.SparseVectorParams{},
		schema: map[string]*qc.PayloadSchemaInfo{},
		points: map[pointKey]*point{},
	}
	switch vc := req.GetVectorsConfig().GetConfig().(type) {
	case *qc.VectorsConfig_Params:
		if err := checkVectorParams("vectors_config.params", vc.Params); err != nil {
			return nil, err
		}
		c.dense[""] = proto.Clone(vc.Params).(*qc.VectorParams)
	case *qc.VectorsConfig_ParamsMap:
		for name, p := range vc.ParamsMap.GetMap() {
			if err := checkVectorParams("vectors_config.params_map."+name, p); err != nil {
				return nil, err
			}
			c.dense[name] = proto.Clone(p).(*qc.VectorParams)
		}
	}
	for name, p := range req.GetSparseVectorsConfig().GetMap() {
		c.sparse[name] = proto.Clone(p).(*qc.SparseVectorParams)
	}
	cs.s.mu.Lock()
	defer cs.s.mu.Unlock()
	if _, ok := cs.s.collections[c.name]; ok {
		return nil, errCollectionExists(c.name)
	}
	cs.s.collections[c.name] = c
	return &qc.CollectionOperationResponse{Result: true}, nil
}

func (cs *collectionsService) Get(_ context.Context, req *qc.GetCollectionInfoRequest) (*qc.GetCollectionInfoResponse, error) {
	cs.s.mu.RLock()
	defer cs.s.mu.RUnlock()
	c, err := cs.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	return &qc.GetCollectionInfoResponse{Result: c.info()}, nil
}

func (cs *collectionsService) List(context.Context, *qc.ListCollectionsRequest) (*qc.ListCollectionsResponse, error) {
	cs.s.mu.RLock()
	defer cs.s.mu.RUnlock()
	resp := &qc.ListCollectionsResponse{}
	for _, name := range sortedKeys(cs.s.collections) {
		resp.Collections = append(resp.Collections, &qc.CollectionDescription{Name: name})
	}
	return resp, nil
}

// Delete answers false for a collection that does not exist, as Qdrant
// does (TableOfContent::delete_collection); go-client's DeleteCollection
// turns that into an error.
func (cs *collectionsService) Delete(_ context.Context, req *qc.DeleteCollection) (*qc.CollectionOperationResponse, error) {
	cs.s.mu.Lock()
	defer cs.s.mu.Unlock()
	_, ok := cs.s.collections[req.GetCollectionName()]
	delete(cs.s.collections, req.GetCollectionName())
	return &qc.CollectionOperationResponse{Result: ok}, nil
}

func (cs *collectionsService) CollectionExists(_ context.Context, req *qc.CollectionExistsRequest) (*qc.CollectionExistsResponse, error) {
	cs.s.mu.RLock()
	defer cs.s.mu.RUnlock()
	_, ok := cs.s.collections[req.GetCollectionName()]
	return &qc.CollectionExistsResponse{Result: &qc.CollectionExists{Exists: ok}}, nil
}
