"""`ferry zoo`: real architectures with random weights, converted and checked on both back
ends (ferry.zoo.run), listed in ferry.zoo.models."""
