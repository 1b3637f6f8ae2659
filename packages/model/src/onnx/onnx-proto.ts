import protobuf from 'protobufjs';

/**
 * The part of the ONNX protobuf schema (onnx/onnx.proto, IR version 8) that the exporter
 * writes, with the field numbers of the official schema, encoded by protobufjs.
 *
 * The schema is declared here rather than taken from the `onnx-proto` npm package. Its
 * newest version (8.0.1) depends on protobufjs 6, two majors behind the protobufjs 8 used
 * here, and it generates code for the whole schema, while the exporter writes a dozen
 * messages. Field names are the camelCase forms protobufjs uses, and nested messages of
 * the official schema (TypeProto.Tensor, TensorShapeProto.Dimension) are declared at the
 * top level; only field numbers and types reach the wire.
 */
const SCHEMA: protobuf.INamespace = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            docString: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            metadataProps: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
          },
        },
        OperatorSetIdProto: {
          fields: {
            domain: { type: 'string', id: 1 },
            version: { type: 'int64', id: 2 },
          },
        },
        StringStringEntryProto: {
          fields: {
            key: { type: 'string', id: 1 },
            value: { type: 'string', id: 2 },
          },
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            docString: { type: 'string', id: 10 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            domain: { type: 'string', id: 7 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            type: { type: 'int32', id: 20 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            floats: { rule: 'repeated', type: 'float', id: 7, options: { packed: false } },
            ints: { rule: 'repeated', type: 'int64', id: 8, options: { packed: false } },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1, options: { packed: false } },
            dataType: { type: 'int32', id: 2 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
          },
        },
        ValueInfoProto: {
          fields: {
            name: { type: 'string', id: 1 },
            type: { type: 'TypeProto', id: 2 },
            docString: { type: 'string', id: 3 },
          },
        },
        TypeProto: {
          fields: {
            tensorType: { type: 'TypeProtoTensor', id: 1 },
          },
        },
        TypeProtoTensor: {
          fields: {
            elemType: { type: 'int32', id: 1 },
            shape: { type: 'TensorShapeProto', id: 2 },
          },
        },
        TensorShapeProto: {
          fields: {
            dim: { rule: 'repeated', type: 'TensorShapeDimension', id: 1 },
          },
        },
        TensorShapeDimension: {
          oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
          fields: {
            dimValue: { type: 'int64', id: 1 },
            dimParam: { type: 'string', id: 2 },
          },
        },
      },
    },
  },
};

/** TensorProto.DataType values of the element types the exporter uses. */
export const TENSOR_TYPE = { float32: 1, int32: 6, int64: 7 } as const;

/** Element type of an ONNX tensor, by its name in onnxruntime-node. */
export type TensorElementType = keyof typeof TENSOR_TYPE;

/** AttributeProto.AttributeType values of the attribute kinds the exporter uses. */
export const ATTRIBUTE_TYPE = { float: 1, int: 2, ints: 7 } as const;

export interface TensorProto {
  name: string;
  dims: number[];
  dataType: number;
  /** Elements in row-major order, fixed width, little-endian. */
  rawData: Uint8Array;
}

export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  ints?: number[];
}

export interface NodeProto {
  name: string;
  opType: string;
  input: string[];
  output: string[];
  attribute: AttributeProto[];
}

/** A dimension: a fixed size, or a name that marks it as dynamic. */
export type Dimension = { dimValue: number } | { dimParam: string };

export interface ValueInfoProto {
  name: string;
  type: { tensorType: { elemType: number; shape: { dim: Dimension[] } } };
  docString?: string;
}

export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  docString?: string;
}

export interface ModelProto {
  irVersion: number;
  opsetImport: Array<{ domain: string; version: number }>;
  producerName: string;
  producerVersion: string;
  docString?: string;
  graph: GraphProto;
  metadataProps: Array<{ key: string; value: string }>;
}

const modelType = protobuf.Root.fromJSON(SCHEMA).lookupType('onnx.ModelProto');

/** Serialises a model to the bytes of an `.onnx` file. */
export function encodeModel(model: ModelProto): Uint8Array {
  return modelType.encode(modelType.fromObject(model)).finish();
}

/** Parses the bytes of an `.onnx` file back into the fields this schema declares; other fields are dropped. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const message = modelType.decode(bytes);
  return modelType.toObject(message, { longs: Number, bytes: Uint8Array as unknown as typeof String, defaults: true, arrays: true }) as ModelProto;
}
