// Calls that vanish at inference. Dropout in eval mode returns its input tensor itself, so the
// trace normally needs no node for it; the rules exist for the calls that do reach lowering:
// they keep an eval-mode dropout an `identity`, and refuse a training-mode one by name (its
// random mask has no inference equivalent) instead of failing on the aten ops beneath it.
#include <string>
#include <vector>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

void lower_dropout(LowerContext& ctx, const std::string& name) {
  const Attrs& a = ctx.attrs();
  // F.* spell the flag `training`, torch.* and aten `train`; F.dropout defaults it to True,
  // F.alpha_dropout to False.
  const char* flag = a.has("training") ? "training" : "train";
  const bool training = a.has(flag) ? a.get_bool(flag) : name.find("alpha") == std::string::npos;
  const double p = a.has("p") ? a.get_float("p") : 0.5;
  if (training && p != 0.0) {
    throw LowerError(name + " in training mode draws a random mask at every call; convert the " +
                     "model in eval mode (model.eval()) or pass training=False");
  }
  ctx.emit_output("identity", {ctx.in(self_arg(ctx))});
}

// Tensors a model creates from nothing (torch.zeros, torch.arange, ...) are the same at every
// call: the bridge hands over the recorded result as the argument `recorded`, and the call
// becomes that constant. Random factories are not listed: freezing them would be wrong.
void lower_factory(LowerContext& ctx) { ctx.set_output(0, ctx.in("recorded")); }

std::vector<std::string> factory_ops() {
  std::vector<std::string> ops;
  for (const std::string name : {"zeros", "ones", "full", "arange", "eye", "linspace", "logspace",
                                 "tensor", "as_tensor", "scalar_tensor"}) {
    ops.push_back("torch." + name);
    for (const char* overload : {"default", "names", "start", "start_step", "Scalar", "m"}) {
      ops.push_back("aten." + name + "." + overload);
    }
  }
  return ops;
}

}  // namespace

void register_misc_rules(Registry& registry) {
  registry.add({factory_ops(), lower_factory, "constant (computed at conversion time)"});
  for (const std::string name : {"dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
                                 "feature_alpha_dropout"}) {
    Rule rule{{"torch.nn.functional." + name},
              [name](LowerContext& ctx) { lower_dropout(ctx, name); },
              "identity (eval mode)"};
    registry.add(std::move(rule));
  }
  for (const std::string name :
       {"dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout"}) {
    Rule rule{{"torch." + name, "torch." + name + "_", "aten." + name + ".default",
               "aten." + name + "_.default"},
              [name](LowerContext& ctx) { lower_dropout(ctx, name); },
              "identity (eval mode)"};
    registry.add(std::move(rule));
  }
}

}  // namespace ferry
