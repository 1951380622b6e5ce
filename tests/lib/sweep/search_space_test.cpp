// Tests for lib/sweep/search_space: each accepted form, each refusal (one ConfigError naming the
// text), and the draws: reproducible from the seed, inside their bounds, spread as their
// distribution says (log-uniform: as many draws per decade).
#include "lib/sweep/search_space.h"

#include <cmath>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "util/error.h"

namespace ftune {
namespace {

TEST(SearchSpace, ParsesEachForm) {
  const auto lr = parse_param_space("learning-rate=loguniform(1e-5, 1e-3)");
  EXPECT_EQ(lr.option, "learning-rate");
  EXPECT_EQ(lr.kind, ParamSpace::Kind::kLogUniform);
  EXPECT_DOUBLE_EQ(lr.low, 1e-5);
  EXPECT_DOUBLE_EQ(lr.high, 1e-3);
  const auto warmup = parse_param_space(" --warmup-ratio = uniform(0,0.2) ");
  EXPECT_EQ(warmup.option, "warmup-ratio");
  EXPECT_EQ(warmup.kind, ParamSpace::Kind::kUniform);
  const auto batch = parse_param_space("batch-size=[16, 32]");
  EXPECT_EQ(batch.kind, ParamSpace::Kind::kChoice);
  EXPECT_EQ(batch.choices, (std::vector<std::string>{"16", "32"}));
  EXPECT_EQ(parse_param_space("lr-scheduler=['linear', \"cosine\"]").choices,
            (std::vector<std::string>{"linear", "cosine"}));
}

TEST(SearchSpace, RefusesWithOneErrorNamingTheText) {
  auto message = [](const std::string& text) -> std::string {
    try {
      parse_param_space(text);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "accepted";
  };
  EXPECT_NE(message("learning-rate").find("expected OPTION=loguniform"), std::string::npos);
  EXPECT_NE(message("dropout=[0.1]").find("expected a train option a sweep can vary"),
            std::string::npos);
  EXPECT_NE(message("learning-rate=loguniform(1e-3,1e-5)").find("expected LOW < HIGH"),
            std::string::npos);
  EXPECT_NE(message("weight-decay=loguniform(0,0.1)").find("loguniform needs LOW > 0"),
            std::string::npos);
  EXPECT_NE(message("batch-size=[]").find("at least one value"), std::string::npos);
  EXPECT_NE(message("batch-size=[16,,32]").find("empty one"), std::string::npos);
  EXPECT_NE(message("batch-size=[16.5]").find("whole numbers"), std::string::npos);
  EXPECT_NE(message("warmup-ratio=uniform(0,2)").find("must lie in [0, 1]"), std::string::npos);
  EXPECT_NE(message("learning-rate=uniform(a,1)").find("expected a number, got 'a'"),
            std::string::npos);
  EXPECT_NE(message("lr-scheduler=[linear,step]").find("got 'step'"), std::string::npos);
  EXPECT_NE(message("epochs=normal(3,1)").find("after '='"), std::string::npos);
  EXPECT_NE(message("epochs=[0]").find("'epochs=[0]'"), std::string::npos);
  EXPECT_THROW(check_search_space({}), ConfigError);
  EXPECT_THROW(
      check_search_space({parse_param_space("epochs=[1]"), parse_param_space("epochs=[2]")}),
      ConfigError);
}

TEST(SearchSpace, DrawsAreReproducibleAndInsideTheirBounds) {
  const std::vector<ParamSpace> space = {parse_param_space("learning-rate=loguniform(1e-5,1e-3)"),
                                         parse_param_space("batch-size=[16,32,64]"),
                                         parse_param_space("epochs=uniform(2,5)")};
  const auto a = draw_trials(space, 200, 7);
  EXPECT_EQ(a, draw_trials(space, 200, 7));
  EXPECT_NE(a, draw_trials(space, 200, 8));
  std::map<std::string, int> batches;
  int low_decade = 0;
  for (const auto& trial : a) {
    ASSERT_EQ(trial.size(), 3u);
    EXPECT_EQ(trial[0].first, "learning-rate");
    const double lr = std::stod(trial[0].second);
    EXPECT_GE(lr, 1e-5 * 0.999);
    EXPECT_LE(lr, 1e-3 * 1.001);
    if (lr < 1e-4) ++low_decade;
    ++batches[trial[1].second];
    const std::string& epochs = trial[2].second;
    EXPECT_TRUE(epochs == "2" || epochs == "3" || epochs == "4" || epochs == "5") << epochs;
  }
  // Log-uniform over two decades: about half below 1e-4 (binomial sd ~7 of 200).
  EXPECT_NEAR(low_decade, 100, 30);
  EXPECT_EQ(batches.size(), 3u);  // every choice drawn
  for (const auto& [value, count] : batches) EXPECT_NEAR(count, 200 / 3, 25) << value;
}

}  // namespace
}  // namespace ftune
