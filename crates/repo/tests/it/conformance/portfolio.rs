//! The portfolio mode: `get_user_portfolio_mode`'s truth table on both stores.

use tributary_domain::{PortfolioMode, Provider, ProviderAccountId};
use tributary_repo::{AccountRepository, PortfolioRepository};

use super::{Harness, account};

pub async fn portfolio_mode_follows_the_truth_table_for_every_combination<H: Harness>(h: &H) {
    for bits in 0..8_u8 {
        let (alpaca, plaid, snaptrade) = (bits & 4 != 0, bits & 2 != 0, bits & 1 != 0);
        let user = h.new_user().await;
        let mut accounts = vec![account(user, Provider::Manual, "manual")];
        for (provider, wanted) in [(Provider::Plaid, plaid), (Provider::SnapTrade, snaptrade)] {
            // An inactive account of a provider the user lacks must not count.
            let mut of_provider = account(user, provider, &format!("{provider}-acc"));
            of_provider.is_active = wanted;
            accounts.push(of_provider);
        }
        h.admin().upsert_accounts(user, &accounts).await.unwrap();
        if alpaca {
            let alpaca_id =
                ProviderAccountId::parse("904837e3-3b76-47ec-b432-046db621571b").unwrap();
            h.admin()
                .set_alpaca_account(user, Some(alpaca_id))
                .await
                .unwrap();
        }

        let summary = h.store_for(user).portfolio_mode(user).await.unwrap();
        let expected = PortfolioMode::from_providers(alpaca, plaid, snaptrade);
        assert_eq!(
            summary.mode, expected,
            "alpaca {alpaca}, plaid {plaid}, snaptrade {snaptrade}"
        );
        assert_eq!(
            (summary.has_alpaca, summary.has_plaid, summary.has_snaptrade),
            (alpaca, plaid, snaptrade)
        );
        assert_eq!(summary.alpaca_account_id.is_some(), alpaca);
        assert_eq!(
            summary.accounts_count,
            1 + u32::from(plaid) + u32::from(snaptrade)
        );
    }

    let user = h.new_user().await;
    let alpaca_id = ProviderAccountId::parse("alpaca-1").unwrap();
    h.admin()
        .set_alpaca_account(user, Some(alpaca_id))
        .await
        .unwrap();
    h.admin().set_alpaca_account(user, None).await.unwrap();
    assert_eq!(
        h.store_for(user).portfolio_mode(user).await.unwrap().mode,
        PortfolioMode::None
    );
}
