#pragma once
// Reading a model's config JSON (a checkpoint's __metadata__["config"]) with
// errors that name the config and the field. Private to models/.
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>

#include "engine/tensor.h"

namespace cadenza::models {

class ConfigJson {
 public:
  // `what` names the config in errors ("wavenet config"). With `model`
  // non-empty, the JSON's "model" field must be that (else the error says
  // the config is not a `noun`'s).
  ConfigJson(const std::string& text, const std::string& what, const std::string& model = "",
             const std::string& noun = "")
      : what_(what) {
    try {
      j_ = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
      throw Error(what + " is not valid JSON: " + e.what());
    }
    if (!j_.is_object()) throw Error(what + " is not a JSON object");
    if (!model.empty() && (!j_.contains("model") || !j_["model"].is_string() || j_["model"] != model))
      throw Error("model config is not a " + noun + "'s (its \"model\" field is not \"" + model + "\")");
  }

  bool has(const char* key) const { return j_.contains(key); }

  // Reads `key` into `field`: missing, non-integer for an integer field, or
  // of the wrong type is an Error naming the key.
  template <class T>
  void get(const char* key, T& field) const {
    if (!j_.contains(key)) throw Error(what_ + " has no field '" + key + "'");
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      if (!j_.at(key).is_number_integer()) throw Error(what_ + " field '" + key + "' must be an integer");
    }
    try {
      j_.at(key).get_to(field);
    } catch (const std::exception&) {
      throw Error(what_ + " field '" + key + "' has the wrong type");
    }
  }

 private:
  nlohmann::json j_;
  std::string what_;
};

}  // namespace cadenza::models
