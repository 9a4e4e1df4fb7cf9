#include "lake/avro.h"

#include <simdjson.h>

#include <algorithm>
#include <map>
#include <string>

namespace watershed::lake::avro {
namespace {

constexpr int64_t kMinSizeCap = int64_t{1} << 30;

Status Invalid(std::string_view what) { return Status::InvalidArgument("avro schema: " + std::string(what)); }

bool PrimitiveType(std::string_view name, Type* type) {
  static constexpr std::pair<std::string_view, Type> kPrimitives[] = {
      {"null", Type::kNull},   {"boolean", Type::kBoolean}, {"int", Type::kInt},     {"long", Type::kLong},
      {"float", Type::kFloat}, {"double", Type::kDouble},   {"bytes", Type::kBytes}, {"string", Type::kString},
  };
  for (const auto& p : kPrimitives) {
    if (p.first == name) {
      *type = p.second;
      return true;
    }
  }
  return false;
}

}  // namespace

std::string_view TypeName(Type type) {
  switch (type) {
    case Type::kNull:
      return "null";
    case Type::kBoolean:
      return "boolean";
    case Type::kInt:
      return "int";
    case Type::kLong:
      return "long";
    case Type::kFloat:
      return "float";
    case Type::kDouble:
      return "double";
    case Type::kBytes:
      return "bytes";
    case Type::kString:
      return "string";
    case Type::kRecord:
      return "record";
    case Type::kArray:
      return "array";
    case Type::kMap:
      return "map";
    case Type::kUnion:
      return "union";
    case Type::kFixed:
      return "fixed";
  }
  return "?";
}

// ---- Schema ----

class SchemaParser {
 public:
  explicit SchemaParser(Schema* schema) : schema_(schema) {}

  Result<int> Parse(simdjson::dom::element e, const std::string& ns, int depth) {
    if (depth > kMaxSchemaDepth) return Invalid("nested too deeply");
    std::string_view str;
    if (e.get(str) == simdjson::SUCCESS) return Named(str, ns);
    simdjson::dom::array arr;
    if (e.get(arr) == simdjson::SUCCESS) return Union(arr, ns, depth);
    simdjson::dom::object obj;
    if (e.get(obj) != simdjson::SUCCESS) return Invalid("a type must be a string, array or object");
    std::string_view type;
    if (obj["type"].get(type) != simdjson::SUCCESS) return Invalid("object without a string \"type\"");
    SchemaNode node;
    std::string_view logical;
    if (obj["logicalType"].get(logical) == simdjson::SUCCESS) node.logical_type = std::string(logical);
    if (PrimitiveType(type, &node.type)) return Add(std::move(node));
    if (type == "record" || type == "error") return Record(obj, ns, depth, std::move(node));
    if (type == "fixed") {
      node.type = Type::kFixed;
      std::string child_ns;
      RETURN_IF_ERROR(FullName(obj, ns, &node.name, &child_ns));
      int64_t size;
      if (obj["size"].get(size) != simdjson::SUCCESS || size < 0 || size > (int64_t{1} << 30)) {
        return Invalid("fixed needs a size");
      }
      node.fixed_size = size;
      ASSIGN_OR_RETURN(int index, Add(std::move(node)));
      RETURN_IF_ERROR(Define(schema_->nodes_[static_cast<size_t>(index)].name, index));
      return index;
    }
    if (type == "array" || type == "map") {
      node.type = type == "array" ? Type::kArray : Type::kMap;
      simdjson::dom::element child;
      if (obj[type == "array" ? "items" : "values"].get(child) != simdjson::SUCCESS) {
        return Invalid(std::string(type) + " without its item type");
      }
      ASSIGN_OR_RETURN(int c, Parse(child, ns, depth + 1));
      node.children.push_back(c);
      return Add(std::move(node));
    }
    if (type == "enum") return Invalid("enum is not supported");
    return Named(type, ns);  // {"type": "SomeNamedType"}
  }

 private:
  Result<int> Add(SchemaNode node) {
    schema_->nodes_.push_back(std::move(node));
    return static_cast<int>(schema_->nodes_.size() - 1);
  }

  Status Define(const std::string& full_name, int index) {
    if (!names_.emplace(full_name, index).second) return Invalid("type " + full_name + " defined twice");
    return Status::Ok();
  }

  // A primitive name or a reference to an already defined named type.
  Result<int> Named(std::string_view name, const std::string& ns) {
    SchemaNode node;
    if (PrimitiveType(name, &node.type)) return Add(std::move(node));
    if (name.find('.') == std::string_view::npos && !ns.empty()) {
      auto it = names_.find(ns + "." + std::string(name));
      if (it != names_.end()) return it->second;
    }
    auto it = names_.find(std::string(name));
    if (it != names_.end()) return it->second;
    return Invalid("unknown type " + std::string(name));
  }

  // Full name and the namespace its nested definitions inherit.
  Status FullName(simdjson::dom::object obj, const std::string& ns, std::string* full, std::string* child_ns) {
    std::string_view name;
    if (obj["name"].get(name) != simdjson::SUCCESS || name.empty()) return Invalid("named type without a name");
    const size_t dot = name.rfind('.');
    if (dot != std::string_view::npos) {
      *full = std::string(name);
      *child_ns = std::string(name.substr(0, dot));
      return Status::Ok();
    }
    std::string_view declared;
    *child_ns = obj["namespace"].get(declared) == simdjson::SUCCESS ? std::string(declared) : ns;
    *full = child_ns->empty() ? std::string(name) : *child_ns + "." + std::string(name);
    return Status::Ok();
  }

  Result<int> Record(simdjson::dom::object obj, const std::string& ns, int depth, SchemaNode node) {
    node.type = Type::kRecord;
    std::string child_ns;
    RETURN_IF_ERROR(FullName(obj, ns, &node.name, &child_ns));
    simdjson::dom::array fields;
    if (obj["fields"].get(fields) != simdjson::SUCCESS) return Invalid("record without fields");
    const std::string full = node.name;
    ASSIGN_OR_RETURN(int index, Add(std::move(node)));
    RETURN_IF_ERROR(Define(full, index));  // before the fields: records may be recursive
    for (simdjson::dom::element f : fields) {
      simdjson::dom::object field;
      std::string_view name;
      simdjson::dom::element type;
      if (f.get(field) != simdjson::SUCCESS || field["name"].get(name) != simdjson::SUCCESS ||
          field["type"].get(type) != simdjson::SUCCESS) {
        return Invalid("record field needs a name and a type");
      }
      ASSIGN_OR_RETURN(int c, Parse(type, child_ns, depth + 1));
      SchemaNode& rec = schema_->nodes_[static_cast<size_t>(index)];
      rec.field_names.emplace_back(name);
      rec.children.push_back(c);
    }
    return index;
  }

  Result<int> Union(simdjson::dom::array arr, const std::string& ns, int depth) {
    SchemaNode node;
    node.type = Type::kUnion;
    for (simdjson::dom::element b : arr) {
      ASSIGN_OR_RETURN(int c, Parse(b, ns, depth + 1));
      if (schema_->nodes_[static_cast<size_t>(c)].type == Type::kUnion) return Invalid("union inside a union");
      node.children.push_back(c);
    }
    if (node.children.empty()) return Invalid("empty union");
    return Add(std::move(node));
  }

  Schema* schema_;
  std::map<std::string, int> names_;
};

namespace {

// Lower bounds on encoded sizes, by fixed-point iteration from 0 (every
// iterate is a lower bound, so recursive types need not converge).
void ComputeMinSizes(std::vector<SchemaNode>& nodes) {
  for (size_t round = 0; round <= nodes.size(); ++round) {
    bool changed = false;
    for (SchemaNode& n : nodes) {
      int64_t m = 0;
      switch (n.type) {
        case Type::kNull:
          m = 0;
          break;
        case Type::kBoolean:
        case Type::kInt:
        case Type::kLong:
        case Type::kBytes:
        case Type::kString:
        case Type::kArray:
        case Type::kMap:
          m = 1;
          break;
        case Type::kFloat:
          m = 4;
          break;
        case Type::kDouble:
          m = 8;
          break;
        case Type::kFixed:
          m = n.fixed_size;
          break;
        case Type::kRecord:
          for (int c : n.children) m += nodes[static_cast<size_t>(c)].min_size;
          break;
        case Type::kUnion: {
          int64_t least = kMinSizeCap;
          for (int c : n.children) least = std::min(least, nodes[static_cast<size_t>(c)].min_size);
          m = 1 + least;
          break;
        }
      }
      m = std::min(m, kMinSizeCap);
      if (m != n.min_size) {
        n.min_size = m;
        changed = true;
      }
    }
    if (!changed) break;
  }
}

}  // namespace

Result<Schema> Schema::Parse(std::string_view json) {
  Schema schema;
  schema.json_ = std::string(json);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) return Invalid("not JSON");
  SchemaParser p(&schema);
  ASSIGN_OR_RETURN(schema.root_, p.Parse(root, "", 0));
  ComputeMinSizes(schema.nodes_);
  return schema;
}

}  // namespace watershed::lake::avro
