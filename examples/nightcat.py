# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "matplotlib",
#     "scikit-image",
# ]
# ///

# %% [markdown]
# # Night cat
# Match the histogram of Chelsea the cat to the one of a rocket launched at night:
# the cat takes the rocket's colours.

# %%
import matplotlib.pyplot as plt
from skimage import data
from skimage.exposure import match_histograms

cat = data.chelsea()
rocket = data.rocket()
print(f"cat {cat.shape}, rocket {rocket.shape}")

# %%
night_cat = match_histograms(cat, rocket, channel_axis=-1)

fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, image, title in zip(axes, (cat, rocket, night_cat), ("cat", "rocket", "night cat")):
    ax.imshow(image)
    ax.set_title(title)
    ax.set_axis_off()
plt.tight_layout()
plt.show()
