"""Built-in styles (with real prompt text) and palettes (with real colours); they have no owner."""

from django.db import migrations

STYLES = [
    (
        "bold-gaming",
        "Bold Gaming",
        "High-energy gaming look with neon glow and explosive action.",
        "Hyper-saturated, high-energy gaming thumbnail. Neon rim lighting on the subject, glowing "
        "edges, explosive particle effects and speed lines radiating from behind the subject. Dark "
        "background with vivid electric accents. Exaggerated, expressive reactions. Chunky 3D "
        "headline text with a heavy black outline and a subtle glow.",
    ),
    (
        "clean-tech",
        "Clean Tech",
        "Crisp product-review style with soft studio light.",
        "Clean, premium tech-review thumbnail. Soft studio lighting, shallow depth of field, a "
        "smooth gradient backdrop and subtle reflections. The product or subject sits sharp in the "
        "foreground. Minimal clutter, generous negative space, modern sans-serif headline in white "
        "with a thin dark outline.",
    ),
    (
        "vlog-bright",
        "Bright Vlog",
        "Sunny lifestyle vlog with warm tones and big smiles.",
        "Bright, warm lifestyle vlog thumbnail. Sunny natural light, lifted shadows, warm skin "
        "tones, cheerful saturated colours. The person is close to camera with an authentic, "
        "friendly expression. Playful rounded headline text with a thick white outline and a soft "
        "drop shadow.",
    ),
    (
        "cinematic",
        "Cinematic",
        "Moody film-still look with teal-and-orange grading.",
        "Cinematic movie-poster thumbnail. Dramatic low-key lighting, teal-and-orange colour grade, "
        "volumetric light and haze, anamorphic lens flare. Strong silhouette and depth. Condensed, "
        "tall headline text with a bold outline, placed like a film title.",
    ),
    (
        "minimal",
        "Minimal",
        "One subject, one idea, lots of space.",
        "Minimalist thumbnail with a single clear subject on a flat or softly graded background, "
        "two or three colours only, strong geometric composition and large negative space. Huge, "
        "simple headline of one to four words in a heavy sans-serif.",
    ),
    (
        "retro-pop",
        "Retro Pop",
        "80s pop-art colours, halftone dots and sunbursts.",
        "Retro pop-art thumbnail. Bold flat colours, halftone dot textures, sunburst rays behind the "
        "subject, thick black comic outlines and offset print shadows. Headline in a chunky retro "
        "display font with a thick outline and an offset drop shadow.",
    ),
    (
        "documentary",
        "Documentary",
        "Serious, credible, news-documentary framing.",
        "Serious documentary thumbnail. Natural, slightly desaturated colour, strong contrast, "
        "realistic photography with a gritty texture. A key object or location framed with a red "
        "circle or arrow to draw the eye. Headline in a strong sans-serif with a yellow or white "
        "highlight bar.",
    ),
]

PALETTES = [
    ("YouTube Red", ["#FF0033", "#FFFFFF", "#0F0F0F", "#FFD400"]),
    ("Neon Night", ["#0D0221", "#FF2A6D", "#05D9E8", "#D1F7FF", "#F9C80E"]),
    ("Sunset Pop", ["#FF6B35", "#F7C548", "#E63946", "#1D3557", "#FFFFFF"]),
    ("Clean Tech", ["#0A84FF", "#F5F7FA", "#1C1C1E", "#30D158"]),
    ("Forest Calm", ["#1B4332", "#40916C", "#B7E4C7", "#F1FAEE", "#FFB703"]),
    ("Mono Punch", ["#111111", "#FFFFFF", "#FFE600"]),
    ("Candy", ["#FF70A6", "#FF9770", "#FFD670", "#E9FF70", "#70D6FF"]),
]


def seed(apps, schema_editor):
    Style = apps.get_model("studio", "Style")
    Palette = apps.get_model("studio", "Palette")
    for slug, name, description, prompt in STYLES:
        Style.objects.update_or_create(
            owner=None,
            slug=slug,
            defaults={"name": name, "description": description, "prompt": prompt},
        )
    for name, colors in PALETTES:
        Palette.objects.update_or_create(owner=None, name=name, defaults={"colors": colors})


def unseed(apps, schema_editor):
    apps.get_model("studio", "Style").objects.filter(owner=None).delete()
    apps.get_model("studio", "Palette").objects.filter(owner=None).delete()


class Migration(migrations.Migration):
    dependencies = [("studio", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
