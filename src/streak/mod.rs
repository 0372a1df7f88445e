//! The Streak API client: HTTP, auth, rate limit, retries and lenient wire parsing.
