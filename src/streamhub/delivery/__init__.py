"""Delivery: origin HTTP app and cache policy for CDN edges."""
