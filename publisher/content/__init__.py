"""From recap to email: loading a recap, rendering (layout, premailer, personalisation, plain text), preview and lint."""
