"""Email rendering: Markdown to email-safe HTML and text, the layout, two-stage personalisation."""
